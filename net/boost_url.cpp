// Boost.URL's compiled part, built into openclawd_net: Debian ships Boost.URL's headers but no
// libboost_url, and src.hpp is the library's own way to compile it into a program. Exactly one
// translation unit of a program may include it (the fuzz target compiles this file too).
#include <boost/url/src.hpp>

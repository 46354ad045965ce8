// openclawd's error codes: one enum and one error_category, in the style of
// Beast's http/error.hpp. Module edges return result<T> (boost::system::result)
// carrying these codes; exceptions stay inside a module or mark programming errors.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <string>
#include <type_traits>

namespace openclawd {

enum class errc {
  ok = 0,
  config_invalid = 1,       // the YAML file is unreadable, malformed or fails validation
  port_in_use,              // another program listens on a node's port
  spawn_failed,             // the llama-server executable could not be started
  start_failed,             // a node exited, or never became ready, while starting
  startup_timeout,          // a node did not answer GET /health 200 within startup_timeout
  already_running,          // another daemon holds the state directory's lock
  not_running,              // no daemon holds the state directory's lock
  state_dir_unusable,       // the state directory cannot be created or written
  upstream_http_error,      // an HTTP peer answered something unusable
  timeout,                  // a network operation hit its deadline
  gguf_invalid,             // a file is not a readable GGUF model
  store_failed,             // the conversation database failed or refused a write (see last_error())
  tokenizer_invalid,        // a tokenizer.json / tokenizer_config.json is unreadable or of an unsupported kind
  // The conversation database reported an I/O error while committing a write and could not
  // then look at what the file holds: the write may or may not have been kept (see last_error()).
  store_uncertain,
};

const boost::system::error_category& openclawd_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), openclawd_category()};
}

template <class T>
using result = boost::system::result<T>;

}  // namespace openclawd

template <>
struct boost::system::is_error_code_enum<openclawd::errc> : std::true_type {};

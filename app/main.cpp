#include "app/cli.hpp"

int main(int argc, char** argv) { return openclawd::app::cli_main(argc, argv); }

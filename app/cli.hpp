// The command line: `openclawd <command>`, one file per command (app/cmd_*.cpp) behind
// the table in cli.cpp. Parses arguments against each command's spec, finds the config
// file, and turns every outcome into a sentence and an exit code (docs/cli.md): 0 ok,
// 1 runtime failure, 2 usage or configuration error, 3 not running / not installed.
#pragma once

namespace openclawd::app {

int cli_main(int argc, char** argv);

}  // namespace openclawd::app

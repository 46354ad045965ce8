// The command line: `openclawd start|stop|status|version|help`. Parses arguments,
// finds the config file, and turns every outcome into a sentence and an exit code
// (docs/cli.md): 0 ok, 1 runtime failure, 2 usage or configuration error, 3 `status`
// found no daemon running.
#pragma once

namespace openclawd::app {

int cli_main(int argc, char** argv);

}  // namespace openclawd::app

// Cited answers: the subagent writes numbered markers ("[1]", "[1, 2]", "[1][3]") for the
// pages and search results it was given; this unit turns them into links and appends a short
// sources list. Two versions of the same answer come out: the one stored in the history and
// streamed (markers as written, the list with its links: the next turn can still refer to a
// source), and the one sent as the final message, whose markers are Markdown links
// (`[[1]](https://…)`) that the renderers show as a linked "[1]" (gateway/markdown.hpp).
// Markers inside code are left alone; numbers the model invented stay plain text. Pure
// functions, any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace openclawd::gateway {

struct source {
  int number = 0;
  std::string title;
  std::string url;
  bool read = false;  // a page read in full (listed even when the answer cites nothing)
};

struct cited_answer {
  std::string stored;   // answer + sources list; markers as written
  std::string shown;    // answer with linked markers + sources list
  std::string sources;  // the list alone ("\n\nSources:\n[1] [Title](url)…"), empty when none
  std::vector<int> cited;  // the known numbers the answer used, in order of first use
};

// The sources list holds the cited sources; when the answer cites none, the pages read in
// full (so the user still sees what was read); otherwise nothing is added.
cited_answer cite_sources(std::string_view answer, const std::vector<source>& sources);

}  // namespace openclawd::gateway

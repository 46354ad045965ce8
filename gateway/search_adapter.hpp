// Joins the web tools (tools/) to the pipeline: a search_function that runs a query and
// renders the results for a model as fenced, untrusted text, and a read_function that reads
// pages. The tool must
// outlive the function. Runs on the daemon's io_context thread.
#pragma once

#include "gateway/pipeline.hpp"
#include "tools/web_search.hpp"

namespace openclawd::gateway {

search_function search_with(tools::web_search& tool, std::size_t max_chars);

// The page reader as the pipeline's read_function. The reader must outlive the function.
read_function read_with(tools::web_reader& reader);

}  // namespace openclawd::gateway

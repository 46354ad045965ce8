# Precompiled headers (OPENCLAWD_PCH, on by default; -DOPENCLAWD_PCH=OFF builds without them).
#
# Why: parsing Asio/Beast (+SSL), nlohmann/json and Catch2 takes ~10 s of CPU per file that
# includes them (GCC 12, -O2 -g1). Each group below is compiled once and reused by the targets of
# its group (REUSE_FROM). What it saves is measured, not assumed (CPU time per file, -O2 -g1):
#   a file with Asio code        4-7 s less (https_client.cpp 38 -> 34 s, cmd_lifecycle.cpp 12 -> 8 s)
#   a file with json, no Asio    the same (state_file.cpp, cmd_chat.cpp, updates.cpp: +-1 s)
#   a file with neither          2-4 s MORE: loading the header costs that (main.cpp 0.1 -> 4 s)
# so only targets with Asio code use it, and each skips its files that include neither Asio/Beast
# nor nlohmann/json (SKIP below; a file missing from SKIP costs time, never correctness).
# Whole build, cmake --build -j 1, RelWithDebInfo (-O2 -g1), no ccache: see the numbers in the
# commit message.
#
# REUSE_FROM needs the flags of the target that built the header: every project target gets them
# from openclawd_common (warnings, BOOST_ASIO_NO_DEPRECATED) and the directory-wide sanitizer
# options. GCC checks, and CMake adds -Winvalid-pch: under OPENCLAWD_WERROR a header that cannot
# be used is an error, not a silent slowdown. -D macros the headers do not use (OPENCLAWD_TEST_BIN,
# ...) do not matter.
#
# Never precompiled: core (light; it is also the clang fuzz build, which has no PCH), targets
# without Asio code, tests/support/catch_main.cpp (CATCH_CONFIG_MAIN must come before the first
# #include <catch2/catch.hpp>). A PCH hides a missing #include: OPENCLAWD_PCH=OFF must keep compiling.
option(OPENCLAWD_PCH "Precompile the Asio/Beast, nlohmann/json and Catch2 headers" ON)

# GCC 12 does not restore `#pragma GCC diagnostic` from a PCH (GCC bug 64117). libstdc++ 12's
# char_traits.h uses those pragmas to silence its known -Warray-bounds/-Wstringop-* false positives
# in inlined std::string code, so with a PCH they come back and fail -Werror (seen in
# conversation_store.cpp and config_test.cpp). The targets that use a PCH turn those three off;
# the OPENCLAWD_PCH=OFF build keeps them.
set(OPENCLAWD_PCH_OPTIONS)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  set(OPENCLAWD_PCH_OPTIONS -Wno-array-bounds -Wno-stringop-overflow -Wno-stringop-overread)
endif()

# Asio/Beast (net/asio.hpp, the project's one Asio include) with SSL, nlohmann/json and the
# standard headers most files use. Not Boost.Process (9 files, +0.7 s each).
set(OPENCLAWD_PCH_NET_HEADERS
  <algorithm> <array> <chrono> <cstdint> <cstring> <deque> <filesystem> <fstream> <functional>
  <map> <memory> <optional> <sstream> <string> <string_view> <utility> <vector>
  "${PROJECT_SOURCE_DIR}/net/asio.hpp"
  <boost/asio/ssl.hpp> <boost/beast/ssl.hpp>
  <nlohmann/json.hpp>)

# openclawd_add_pch(<group> HEADERS <header>... LIBS <lib>...): the target openclawd_pch_<group>
# that compiles the group's header once, with the flags of the project's targets.
function(openclawd_add_pch group)
  if(NOT OPENCLAWD_PCH)
    return()
  endif()
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "HEADERS;LIBS")
  set(src ${CMAKE_CURRENT_BINARY_DIR}/openclawd_pch_${group}.cpp)
  file(CONFIGURE OUTPUT ${src} CONTENT "// Owner of the ${group} precompiled header (cmake/OpenclawdPch.cmake).\n")
  add_library(openclawd_pch_${group} OBJECT ${src})
  target_link_libraries(openclawd_pch_${group} PRIVATE openclawd_common ${arg_LIBS})
  target_compile_options(openclawd_pch_${group} PRIVATE ${OPENCLAWD_PCH_OPTIONS})
  target_precompile_headers(openclawd_pch_${group} PRIVATE ${arg_HEADERS})
endfunction()

# openclawd_use_pch(<group> <target>... [SKIP <source>...]): the targets reuse the group's header,
# except in the SKIP sources (paths relative to the calling CMakeLists.txt): the files that
# include neither Asio/Beast nor nlohmann/json.
function(openclawd_use_pch group)
  if(NOT OPENCLAWD_PCH)
    return()
  endif()
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SKIP")
  list(TRANSFORM arg_SKIP PREPEND ${CMAKE_CURRENT_SOURCE_DIR}/)
  foreach(target IN LISTS arg_UNPARSED_ARGUMENTS)
    target_precompile_headers(${target} REUSE_FROM openclawd_pch_${group})
    target_compile_options(${target} PRIVATE ${OPENCLAWD_PCH_OPTIONS})
    if(arg_SKIP)
      set_source_files_properties(${arg_SKIP} TARGET_DIRECTORY ${target}
        PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()

# cmark-gfm, GitHub's CommonMark parser, and its extensions library (tables, strikethrough,
# autolinks): gateway/markdown.cpp reads the models' Markdown with them. Debian ships them as
# libcmark-gfm-dev + libcmark-gfm-extensions-dev, Homebrew as cmark-gfm (scripts/setup.sh installs
# both). pkg-config only gives hints: Debian's libcmark-gfm.pc lists both libraries but upstream's
# (Homebrew's) only the core one, so each library is looked for by name.
# Defines openclawd::cmark_gfm (an imported interface target: headers + both libraries).
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_CMARK_GFM QUIET libcmark-gfm)
endif()
set(_openclawd_cmark_hints ${PC_CMARK_GFM_LIBRARY_DIRS})
foreach(_prefix "$ENV{HOMEBREW_PREFIX}" /opt/homebrew /usr/local)
  if(_prefix)
    list(APPEND _openclawd_cmark_hints "${_prefix}/opt/cmark-gfm/lib")
  endif()
endforeach()
find_path(OPENCLAWD_CMARK_GFM_INCLUDE_DIR cmark-gfm-core-extensions.h
  HINTS ${PC_CMARK_GFM_INCLUDE_DIRS} ${_openclawd_cmark_hints}/../include)
find_library(OPENCLAWD_CMARK_GFM_LIBRARY cmark-gfm HINTS ${_openclawd_cmark_hints})
find_library(OPENCLAWD_CMARK_GFM_EXTENSIONS_LIBRARY cmark-gfm-extensions HINTS ${_openclawd_cmark_hints})
if(NOT OPENCLAWD_CMARK_GFM_INCLUDE_DIR OR NOT OPENCLAWD_CMARK_GFM_LIBRARY OR NOT OPENCLAWD_CMARK_GFM_EXTENSIONS_LIBRARY)
  message(FATAL_ERROR "cmark-gfm (cmark-gfm.h, cmark-gfm-core-extensions.h, libcmark-gfm, "
                      "libcmark-gfm-extensions) is missing: run scripts/setup.sh, or install "
                      "libcmark-gfm-dev and libcmark-gfm-extensions-dev (Debian/Ubuntu) or cmark-gfm (Homebrew)")
endif()
add_library(openclawd::cmark_gfm INTERFACE IMPORTED)
# The extensions library uses the core one: it comes first on the link line.
target_link_libraries(openclawd::cmark_gfm INTERFACE
  ${OPENCLAWD_CMARK_GFM_EXTENSIONS_LIBRARY} ${OPENCLAWD_CMARK_GFM_LIBRARY})
target_include_directories(openclawd::cmark_gfm SYSTEM INTERFACE ${OPENCLAWD_CMARK_GFM_INCLUDE_DIR})

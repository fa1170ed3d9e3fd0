# Registers the single Catch2 binary with CTest once per test source file (Catch2's filename tags,
# `-#`), not once per TEST_CASE: every process start loads LibTorch (~1-2 s on 2 cores), so per-case
# registration would spend minutes on start-up alone. Hidden tags ([.ddp], [.bench]) stay excluded;
# cases tagged [skips] (they skip when an asset, a tool or a build option is missing) get one entry
# each, reported by CTest as skipped when they print "skipped: <why>"; the [cuda] cases of every
# file form one entry of their own, cuda/all, skipped likewise on a machine without a GPU. A
# TEST_CASE that skips without the tag fails (tests/support/main.cpp).
set(_stems "")
foreach(_src ${IBLLM_TEST_SOURCES})
  get_filename_component(_stem ${_src} NAME_WE)
  # Catch2's "[#stem]" filter cannot tell tests/unit/x.cpp from tests/golden/x.cpp: both entries
  # would run both files.
  if(_stem IN_LIST _stems)
    message(FATAL_ERROR "${_src}: another test file is also named ${_stem}.cpp; give each test file "
                        "a unique name (CTest selects a file's cases by its name)")
  endif()
  list(APPEND _stems ${_stem})
  file(RELATIVE_PATH _rel ${CMAKE_SOURCE_DIR}/tests ${_src})
  get_filename_component(_dir ${_rel} DIRECTORY)
  # Every TEST_CASE head (name and tags, possibly over two lines).
  file(READ ${_src} _text)
  string(REPLACE ";" "@SEMICOLON@" _text "${_text}")  # a ';' in a name would split CMake lists
  string(REGEX MATCHALL "TEST_CASE\\([ \t\r\n]*\"([^\"\\\\]|\\\\.)*\"[ \t\r\n]*,[ \t\r\n]*\"[^\"]*\""
         _heads "${_text}")
  string(REGEX MATCHALL "TEST_CASE\\(" _opens "${_text}")
  list(LENGTH _opens _n_opens)
  list(LENGTH _heads _n_heads)
  if(NOT _n_opens EQUAL _n_heads)
    message(FATAL_ERROR "${_src}: ${_n_opens} TEST_CASE( but ${_n_heads} parsed as (\"name\", \"[tags]\"); "
                        "fix the head's syntax (this parser) so each [skips] case gets its CTest entry")
  endif()
  set(_visible OFF)
  foreach(_h IN LISTS _heads)
    string(REGEX REPLACE "^TEST_CASE\\([ \t\r\n]*\"(([^\"\\\\]|\\\\.)*)\".*" "\\1" _name "${_h}")
    string(REPLACE "\\\"" "\"" _name "${_name}")  # the C++ literal's \" is the name's "
    string(REGEX REPLACE ".*,[ \t\r\n]*\"([^\"]*)\"$" "\\1" _tags "${_h}")
    if(_tags MATCHES "\\[\\." OR _tags MATCHES "\\[cuda\\]")
      continue()
    endif()
    if(NOT _tags MATCHES "\\[skips\\]")
      set(_visible ON)
      continue()
    endif()
    # A case that may skip (tagged [skips]: it needs an asset, a tool or a build option) is an entry
    # of its own, so a skip shows as a skip and never hides inside a passing file entry.
    # Catch2 test spec: the exact name, its special characters escaped; a name with a ';' (which
    # cannot pass through a CMake argument) is matched up to it with a trailing wildcard.
    string(FIND "${_name}" "@SEMICOLON@" _semi)
    if(_semi GREATER -1)
      string(SUBSTRING "${_name}" 0 ${_semi} _name)
      set(_name "${_name}*")
    endif()
    string(TOLOWER "${_name}" _slug)
    string(REGEX REPLACE "[^a-z0-9]+" "_" _slug "${_slug}")
    string(REGEX REPLACE "^_|_$" "" _slug "${_slug}")
    string(SUBSTRING "${_slug}" 0 48 _slug)
    if(TEST ${_dir}/${_stem}/${_slug})
      set(_slug "${_slug}_2")
    endif()
    string(REPLACE "\\" "\\\\" _spec "${_name}")
    foreach(_special "," "[" "]")
      string(REPLACE "${_special}" "\\${_special}" _spec "${_spec}")
    endforeach()
    add_test(NAME ${_dir}/${_stem}/${_slug} COMMAND ibllm_tests "${_spec}" --order decl)
    set_tests_properties(${_dir}/${_stem}/${_slug} PROPERTIES TIMEOUT 900
                         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
                         SKIP_REGULAR_EXPRESSION "skipped: ")
  endforeach()
  # Support files (no TEST_CASE) and files whose every case is hidden, [cuda] or [skips] would
  # register a file entry that runs nothing.
  if(NOT _visible)
    continue()
  endif()
  add_test(NAME ${_dir}/${_stem}
           COMMAND ibllm_tests "-#" "[#${_stem}]~[.]~[cuda]~[skips]" --order decl)
  set_tests_properties(${_dir}/${_stem} PROPERTIES TIMEOUT 900
                       WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
endforeach()

add_test(NAME cuda/all COMMAND ibllm_tests "[cuda]" --order decl)
set_tests_properties(cuda/all PROPERTIES TIMEOUT 900 WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
                     SKIP_REGULAR_EXPRESSION "skipped: no CUDA device")

# The build itself: no load-time dependency on the driver (libcuda.so), every CUDA library from the
# wheel through the RPATH, and no Gloo code compiled from Debian's headers (tests/build_check.sh).
add_test(NAME build/binaries COMMAND bash ${CMAKE_SOURCE_DIR}/tests/build_check.sh
         $<TARGET_FILE:ibllm_cli> $<TARGET_FILE:ibllm_tests>)
set_tests_properties(build/binaries PROPERTIES TIMEOUT 300 WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# The official-recipe baseline of tests/gpu/check.sh (plain PyTorch eager) on tiny CPU shapes, so the
# script is known to run before a GPU measures it: the torch of the project's .venv, else python3's.
find_program(IBLLM_TORCH_PYTHON NAMES python3 python PATHS ${IBLLM_VENV}/bin NO_DEFAULT_PATH)
if(NOT IBLLM_TORCH_PYTHON)
  find_program(IBLLM_TORCH_PYTHON python3)
endif()
add_test(NAME gpu/baseline_official_tiny
         COMMAND ${IBLLM_TORCH_PYTHON} ${CMAKE_SOURCE_DIR}/tests/gpu/baseline_official.py --tiny)
set_tests_properties(gpu/baseline_official_tiny PROPERTIES TIMEOUT 300
                     WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
                     PASS_REGULAR_EXPRESSION "\"case\": \"decode_b1\"")

# Registers the single Catch2 binary with CTest once per test source file (Catch2's filename tags,
# `-#`), not once per TEST_CASE: every process start loads LibTorch (~1-2 s on 2 cores), so per-case
# registration would spend minutes on start-up alone. Hidden tags ([.ddp], [.bench]) stay excluded;
# the [cuda] cases of every file form one entry of their own, cuda/all, which CTest reports as
# skipped (not passed) when they print "skipped: no CUDA device".
foreach(_src ${IBLLM_TEST_SOURCES})
  get_filename_component(_stem ${_src} NAME_WE)
  # Support files (no TEST_CASE) and files whose every case is hidden or [cuda] would register a
  # test that runs nothing.
  file(STRINGS ${_src} _cases REGEX "TEST_CASE\\(")
  set(_visible OFF)
  foreach(_c IN LISTS _cases)
    if(NOT _c MATCHES "\\[\\." AND NOT _c MATCHES "\\[cuda\\]")
      set(_visible ON)
    endif()
  endforeach()
  if(NOT _visible)
    continue()
  endif()
  file(RELATIVE_PATH _rel ${CMAKE_SOURCE_DIR}/tests ${_src})
  get_filename_component(_dir ${_rel} DIRECTORY)
  add_test(NAME ${_dir}/${_stem}
           COMMAND ibllm_tests "-#" "[#${_stem}]~[.]~[cuda]" --order decl)
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

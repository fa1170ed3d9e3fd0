# Registers the single Catch2 binary with CTest once per test source file (Catch2's filename tags,
# `-#`), not once per TEST_CASE: every process start loads LibTorch (~1-2 s on 2 cores), so per-case
# registration would spend minutes on start-up alone. Hidden tags ([.gpu], [.ddp]) stay excluded.
foreach(_src ${IBLLM_TEST_SOURCES})
  get_filename_component(_stem ${_src} NAME_WE)
  # Support files (no TEST_CASE) and files whose every case is hidden ([.gpu], [.bench]) would
  # register a test that runs nothing.
  file(STRINGS ${_src} _cases REGEX "TEST_CASE\\(")
  set(_visible OFF)
  foreach(_c IN LISTS _cases)
    if(NOT _c MATCHES "\\[\\.")
      set(_visible ON)
    endif()
  endforeach()
  if(NOT _visible)
    continue()
  endif()
  file(RELATIVE_PATH _rel ${CMAKE_SOURCE_DIR}/tests ${_src})
  get_filename_component(_dir ${_rel} DIRECTORY)
  add_test(NAME ${_dir}/${_stem}
           COMMAND ibllm_tests "-#" "[#${_stem}]~[.]" --order decl)
  set_tests_properties(${_dir}/${_stem} PROPERTIES TIMEOUT 900
                       WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
endforeach()

# LibTorch 2.x compile guard (the GPU build): the version-, CUDA- and c10d-dependent translation
# units syntax-checked against Debian trixie's LibTorch 2.6 headers; skipped when they cannot be
# fetched. Started first (COST) so it overlaps the other tests. tests/torch2_headers.sh without
# --ci checks every file.
add_test(NAME build/torch2_headers COMMAND bash ${CMAKE_SOURCE_DIR}/tests/torch2_headers.sh --ci)
set_tests_properties(build/torch2_headers PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77 COST 1000
                     WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
                     ENVIRONMENT "BUILD_DIR=${CMAKE_BINARY_DIR}")

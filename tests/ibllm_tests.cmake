# Registers every Catch2 TEST_CASE of the single test binary as its own CTest test (hidden tags
# such as [.gpu] and [.ddp] are not registered; run them explicitly). A per-test timeout keeps a
# hung multi-process test from stalling CI.
list(APPEND CMAKE_MODULE_PATH ${Catch2_DIR})
include(Catch)
catch_discover_tests(ibllm_tests
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
  PROPERTIES TIMEOUT 600)

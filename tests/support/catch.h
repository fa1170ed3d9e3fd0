// Catch2 v2 (Debian 12) and v3 (GPU machine) behind one include. IBLLM_SKIP(msg) skips visibly:
// a real SKIP on v3, a WARN + return on v2 (which has no skip); both print "skipped: <msg>", which
// CTest's SKIP_REGULAR_EXPRESSION turns into a skip (tests/ibllm_tests.cmake). On v2 a case that
// skips must carry the [skips] tag (its own CTest entry), else the skip is a failure.
// Debian's LibTorch logs through glog, whose CHECK macro would silently replace Catch's CHECK in any
// test that includes a torch header after this one (failures then abort instead of being counted):
// pull c10's logging in first and drop glog's CHECK so Catch's definition is the one that stands.
#pragma once

#include <c10/util/Logging.h>
#undef CHECK

#if IBLLM_CATCH_MAJOR >= 3
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
using Catch::Approx;
#define IBLLM_SKIP(msg) SKIP("skipped: " << msg)
#else
#include <catch2/catch.hpp>
namespace ibllm::test {
// True when the running TEST_CASE may skip: tagged [skips] (its own CTest entry, reported as
// skipped), [cuda] (the cuda/all entry) or hidden (run by hand). tests/support/skip_policy.cpp.
bool current_case_may_skip();
}  // namespace ibllm::test
#define IBLLM_SKIP(msg)                                                                      \
  do {                                                                                       \
    if (!::ibllm::test::current_case_may_skip())                                             \
      FAIL("this TEST_CASE skips (" << msg << ") but lacks the [skips] tag, so its CTest entry " \
           "would report a pass: add [skips] to its tags");                                  \
    WARN("skipped: " << msg);                                                                \
    return;                                                                                  \
  } while (0)
#endif

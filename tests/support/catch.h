// Catch2 v2 (Debian 12) and v3 (GPU machine) behind one include. IBLLM_SKIP(msg) skips visibly:
// a real SKIP on v3, a WARN + return on v2 (which has no skip); both print "skipped: <msg>", which
// CTest's SKIP_REGULAR_EXPRESSION turns into a skip (tests/ibllm_tests.cmake).
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
#define IBLLM_SKIP(msg) \
  do {                  \
    WARN("skipped: " << msg); \
    return;             \
  } while (0)
#endif

// Catch2 v2 (Debian 12) and v3 (GPU machine) behind one include. IBLLM_SKIP(msg) skips visibly:
// a real SKIP on v3, a WARN + return on v2 (which has no skip).
#pragma once

#if IBLLM_CATCH_MAJOR >= 3
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
using Catch::Approx;
#define IBLLM_SKIP(msg) SKIP(msg)
#else
#include <catch2/catch.hpp>
#define IBLLM_SKIP(msg) \
  do {                  \
    WARN("SKIPPED: " << msg); \
    return;             \
  } while (0)
#endif

// What every fuzz harness shares: the one rule of what is a finding, and the input written to a
// file for the parsers that take a path. A harness body is an ordinary function (see harnesses.h)
// linked both into the libFuzzer executables (clang, IBLLM_FUZZ=ON) and into ibllm_tests, which
// replays the committed corpus and regression inputs through it (tests/fuzz/fuzz_replay_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "src/core/error.h"

namespace ibllm::fuzz {

// The message of the ibllm::Error the last input ended with ("" when it was accepted).
const std::string& last_error();
void set_last_error(std::string message);

// Runs `body` on one input. An ibllm::Error is the expected answer to bad input: recorded, the
// input counts as handled. Anything else (std::bad_alloc from a size taken on trust, an
// exception from the standard library or LibTorch, a broken invariant) leaves this function and
// is a finding: libFuzzer reports it as a crash, the replay test as a failure.
template <class F>
int expect_ibllm_errors(F&& body) {
  set_last_error("");
  try {
    body();
  } catch (const ibllm::Error& e) {
    set_last_error(e.what());
  }
  return 0;
}

// A property a parser must guarantee for every input it accepts; broken: a finding.
inline void require(bool ok, const std::string& what) {
  if (!ok) throw std::logic_error("fuzz invariant broken: " + what);
}

// Writes the input to `<scratch>/<name>` and returns that path. The scratch folder is private to
// this process, on tmpfs (/dev/shm) when there is one, and removed at exit; the same name is
// rewritten in place by the next input, so a harness costs one open+write per input.
std::string write_input(const std::string& name, const uint8_t* data, size_t size);

// The repository root (compiled in).
std::string source_dir();
// ../shared/assets/<name> ($IBLLM_SHARED_DIR overrides ../shared, as for the tests); "" if absent.
std::string shared_asset(const std::string& name);

}  // namespace ibllm::fuzz

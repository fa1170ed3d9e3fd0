// The error type of the distributed layer: rendezvous, collectives and cross-rank consistency
// checks. Every message names the rank that raised it, so interleaved logs of N processes stay
// readable; c10d's own exceptions are wrapped, never passed through bare.
#pragma once

#include <string>

#include "src/core/error.h"

namespace ibllm::dist {

class DistError : public Error {
 public:
  explicit DistError(const std::string& message, std::string hint = "")
      : Error("dist", message, std::move(hint)) {}
};

}  // namespace ibllm::dist

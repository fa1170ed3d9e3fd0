// Test-only crash seam. IBLLM_TEST_KILL_AT=<point>:<n>[@<rank>] makes the process SIGKILL itself
// the n-th time (counting from 1) it passes kill_point("<point>"); with @<rank>, only the process
// whose RANK environment variable is <rank>. Without the variable a kill point is one string
// compare against an empty name. The crash-resume campaign (tests/reliability/) uses it to kill at
// exact moments (inside a step, between the files of a checkpoint, mid-eval, mid-export) instead of
// guessing with timers; the list of points is in docs/reliability.md. Never set it in production.
#pragma once

#include <string>

namespace ibllm::core {

// Counts one pass of `point`; dies with SIGKILL when IBLLM_TEST_KILL_AT names this pass.
void kill_point(const char* point);
inline void kill_point(const std::string& point) { kill_point(point.c_str()); }

}  // namespace ibllm::core

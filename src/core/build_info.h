// Version and git sha of this build, compiled in a separate object library (src/core/build_info.cmake)
// so a new commit relinks without recompiling anything else.
#pragma once

namespace ibllm::core {
const char* version();
const char* git_sha();
}  // namespace ibllm::core

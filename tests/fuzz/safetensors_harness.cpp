// Fuzz harness: one .safetensors file through SafetensorsFile (header validation, then every
// tensor both aliased from the mapping and copied with pread). An accepted file must describe
// exactly its bytes: ranges inside the buffer, and both reads must agree byte for byte.
#include <ATen/ATen.h>

#include <cstring>

#include "src/io/safetensors.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/harnesses.h"

namespace ibllm::fuzz {

int safetensors_one_input(const uint8_t* data, size_t size) {
  return expect_ibllm_errors([&] {
    const std::string path = write_input("input.safetensors", data, size);
    io::SafetensorsFile f(path);
    require(8 + f.header_length() + f.buffer_size() == size, "header + buffer != file size");
    for (const auto& [name, e] : f.entries()) {
      require(e.begin <= e.end && e.end <= f.buffer_size(), "tensor '" + name + "' outside buffer");
    }
    for (const auto& [name, t] : f.tensors()) {
      const at::Tensor copy = f.tensor_copy(name);
      const size_t n = f.entry(name).nbytes();
      require(static_cast<size_t>(t.numel()) * t.element_size() == n, "'" + name + "' size");
      require(n == 0 || std::memcmp(t.data_ptr(), copy.data_ptr(), n) == 0,
              "mapped and copied bytes of '" + name + "' differ");
    }
  });
}

}  // namespace ibllm::fuzz

// Fuzz harness: one torch.save zip through PthFile (zip records via LibTorch's reader, data.pkl
// through our unpickler, storages mapped and copied): listing, inspection, and every tensor in
// both load modes, which must agree.
#include <ATen/ATen.h>

#include <string>

#include "src/io/pth_reader.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/harnesses.h"

namespace ibllm::fuzz {
namespace {

std::string raw_bytes(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  const size_t n = static_cast<size_t>(c.numel()) * c.element_size();
  return n == 0 ? std::string() : std::string(static_cast<const char*>(c.data_ptr()), n);
}

}  // namespace

int pth_one_input(const uint8_t* data, size_t size) {
  return expect_ibllm_errors([&] {
    const std::string path = write_input("input.pth", data, size);
    io::PthFile f(path);
    f.value_infos();
    const auto infos = f.tensor_infos();
    const auto mapped = f.tensors("", io::PthLoad::kMap);
    const auto copied = f.tensors("", io::PthLoad::kCopy);
    require(mapped.size() == copied.size(), "map and copy loads found different tensors");
    for (const auto& [name, t] : mapped) {
      const at::Tensor& c = copied.at(name);
      require(t.sizes() == c.sizes() && t.scalar_type() == c.scalar_type(), "'" + name + "' meta");
      // Bytes, not values: NaN != NaN would make equal payloads differ.
      require(raw_bytes(t) == raw_bytes(c), "mapped and copied bytes of '" + name + "' differ");
    }
  });
}

}  // namespace ibllm::fuzz

// See rng_state.h. Generators are locked while their state is read or written, as PyTorch's own
// get_rng_state/set_rng_state do; CUDA goes through at::Context, so no CUDA headers are needed.
#include "src/checkpoint/rng_state.h"

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/empty.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <mutex>

#include "src/core/error.h"

namespace ibllm::checkpoint {

using nlohmann::json;

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string state_of(at::Generator gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  const at::Tensor t = gen.get_state().contiguous();
  return base64_encode(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
}

void set_state_of(at::Generator gen, const json& encoded, const std::string& what) {
  if (!encoded.is_string())
    throw CheckpointError("rng state '" + what + "' is not a string", "the state.json is damaged");
  const std::string bytes = base64_decode(encoded.get<std::string>());
  at::Tensor t =
      at::empty({static_cast<int64_t>(bytes.size())}, at::TensorOptions().dtype(at::kByte));
  if (!bytes.empty()) std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  std::lock_guard<std::mutex> lock(gen.mutex());
  try {
    gen.set_state(t);
  } catch (const c10::Error& e) {
    throw CheckpointError(
        "rng state '" + what + "' was rejected by LibTorch: " + e.what_without_backtrace(),
        "was the checkpoint written by a different LibTorch version?");
  }
}

size_t cuda_devices() { return at::hasCUDA() ? at::getNumGPUs() : 0; }

}  // namespace

std::string base64_encode(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t v = (uint32_t(p[i]) << 16) | (i + 1 < n ? uint32_t(p[i + 1]) << 8 : 0) |
                       (i + 2 < n ? uint32_t(p[i + 2]) : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::string base64_decode(const std::string& text) {
  auto value = [](char c) -> int {
    const char* pos = std::strchr(kAlphabet, c);
    return (c != '\0' && pos != nullptr) ? int(pos - kAlphabet) : -1;
  };
  if (text.size() % 4 != 0)
    throw CheckpointError("rng state: base64 length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const int d = (k >= 4 - pad) ? 0 : value(text[i + k]);
      if (d < 0) throw CheckpointError("rng state: invalid base64 character");
      v = (v << 6) | uint32_t(d);
    }
    out += char((v >> 16) & 0xff);
    if (pad < 2) out += char((v >> 8) & 0xff);
    if (pad < 1) out += char(v & 0xff);
  }
  return out;
}

json capture_rng_state() {
  json out = {{"cpu", state_of(at::globalContext().defaultGenerator(at::kCPU))},
              {"cuda", json::array()}};
  for (size_t i = 0; i < cuda_devices(); ++i) {
    out["cuda"].push_back(state_of(
        at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<int8_t>(i)))));
  }
  return out;
}

void restore_rng_state(const json& state) {
  if (!state.is_object() || !state.contains("cpu"))
    throw CheckpointError("rng state has no 'cpu' entry", "the state.json is damaged");
  set_state_of(at::globalContext().defaultGenerator(at::kCPU), state.at("cpu"), "cpu");
  const json cuda = state.value("cuda", json::array());
  const size_t here = cuda_devices();
  if (cuda.size() != here && !(cuda.empty() && here == 0)) {
    spdlog::warn(
        "checkpoint: rng state saved for {} CUDA device(s), this process sees {}; "
        "restoring the first {}",
        cuda.size(), here, std::min(cuda.size(), here));
  }
  for (size_t i = 0; i < std::min(cuda.size(), here); ++i) {
    set_state_of(
        at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<int8_t>(i))),
        cuda[i], "cuda:" + std::to_string(i));
  }
}

}  // namespace ibllm::checkpoint

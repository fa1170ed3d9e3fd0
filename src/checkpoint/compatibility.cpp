// See compatibility.h. Arrays of scalars (shapes) are compared and shown whole; arrays holding
// objects are compared element by element.
#include "src/checkpoint/compatibility.h"

#include <algorithm>

#include "src/core/error.h"

namespace ibllm::checkpoint {

using nlohmann::json;

namespace {

std::string join(const std::string& path, const std::string& key) {
  if (key.find('.') != std::string::npos || key.empty()) return path + "[\"" + key + "\"]";
  return path.empty() ? key : path + "." + key;
}

bool scalar_array(const json& j) {
  if (!j.is_array()) return false;
  for (const auto& e : j)
    if (e.is_structured()) return false;
  return true;
}

std::string show(const json* j) { return j == nullptr ? "(absent)" : j->dump(); }

void diff(const json* a, const json* b, const std::string& path, std::vector<std::string>& out) {
  auto report = [&] {
    out.push_back((path.empty() ? std::string("(root)") : path) + ": checkpoint " + show(a) +
                  ", config " + show(b));
  };
  if (a == nullptr || b == nullptr) {
    report();
    return;
  }
  if (a->is_object() && b->is_object()) {
    for (auto it = a->begin(); it != a->end(); ++it) {
      auto jt = b->find(it.key());
      diff(&it.value(), jt == b->end() ? nullptr : &*jt, join(path, it.key()), out);
    }
    for (auto jt = b->begin(); jt != b->end(); ++jt)
      if (!a->contains(jt.key())) diff(nullptr, &jt.value(), join(path, jt.key()), out);
    return;
  }
  if (a->is_array() && b->is_array() && !(scalar_array(*a) && scalar_array(*b))) {
    const size_t n = std::max(a->size(), b->size());
    for (size_t i = 0; i < n; ++i) {
      diff(i < a->size() ? &(*a)[i] : nullptr, i < b->size() ? &(*b)[i] : nullptr,
           path + "[" + std::to_string(i) + "]", out);
    }
    return;
  }
  // Integers and floats compare by value (1 == 1.0), everything else by type and value.
  if (*a != *b) report();
}

}  // namespace

json make_signature(const std::map<std::string, at::Tensor>& tensors, const json& extra) {
  json sig = extra.is_object() ? extra : json::object();
  json t = json::object();
  for (const auto& [name, tensor] : tensors) {
    t[name] = {{"dtype", std::string(c10::toString(tensor.scalar_type()))},
               {"shape", tensor.sizes().vec()}};
  }
  sig["tensors"] = t;
  return sig;
}

std::vector<std::string> signature_differences(const json& saved, const json& current) {
  std::vector<std::string> out;
  diff(&saved, &current, "", out);
  return out;
}

void check_compatible(const json& saved_signature, const json& current_signature) {
  const auto d = signature_differences(saved_signature, current_signature);
  if (d.empty()) return;
  constexpr size_t kShown = 20;
  std::string msg = "the checkpoint does not match the current run (" + std::to_string(d.size()) +
                    " difference" + (d.size() == 1 ? "" : "s") + "):";
  for (size_t i = 0; i < d.size() && i < kShown; ++i) msg += "\n  " + d[i];
  if (d.size() > kShown) msg += "\n  ... and " + std::to_string(d.size() - kShown) + " more";
  throw CheckpointError(msg,
                        "resume with the config the checkpoint was written with (its config.yaml), "
                        "or start a new run (new run.dir, or checkpoint.resume: never)");
}

}  // namespace ibllm::checkpoint

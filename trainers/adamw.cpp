// AdamW (see adamw.h). The op sequence per tensor is the one torch.optim.AdamW 1.13 runs
// (_single_tensor_adamw / _multi_tensor_adamw): decay, mul+add for m, mul+addcmul for v,
// denom = sqrt(v)/sqrt(bc2) + eps, addcdiv with -lr/bc1. The foreach path issues the same ops as
// multi-tensor kernels; on CPU both paths give bitwise identical results.
#include "trainers/adamw.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "src/core/error.h"

namespace ibllm::train {
namespace {

Error optim_error(const std::string& message, const std::string& hint = "") {
  return Error("optim", message, hint);
}

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream o;
  o << '[';
  for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
  o << ']';
  return o.str();
}

// 1234 -> "1.2k", 608190464 -> "608.2M"; a trailing ".0" is dropped.
std::string human_count(int64_t n) {
  const char* units[] = {"", "k", "M", "G", "T"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 999.95 && u < 4) {
    v /= 1000.0;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(n));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f", v);
    std::string s(buf);
    if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
    return s + units[u];
  }
  return buf;
}

// Lists at most 20 entries, then "... and N more".
std::string join_limited(const std::vector<std::string>& v) {
  std::string out;
  const size_t shown = std::min<size_t>(v.size(), 20);
  for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + v[i];
  if (v.size() > shown) out += ", ... and " + std::to_string(v.size() - shown) + " more";
  return out;
}

// A step counter from a checkpoint: a 0-d tensor holding a non-negative integer (torch stores
// float32 steps, ours are int64). Returns an explanation on failure, "" when valid.
std::string read_step(const at::Tensor& t, int64_t& out) {
  if (!t.defined() || t.dim() != 0) return "must be a 0-d tensor";
  if (!(at::isIntegralType(t.scalar_type(), /*includeBool=*/false) ||
        at::isFloatingType(t.scalar_type())))
    return "must be an integer or floating tensor";
  const double v = t.to(at::kCPU).to(at::kDouble).item<double>();
  if (!(v >= 0.0) || v != std::floor(v) || v > 9.0e15) return "is not a non-negative integer";
  out = static_cast<int64_t>(v);
  return "";
}

}  // namespace

bool uses_weight_decay(const std::string& name, const at::Tensor& p) {
  const std::string suffix = ".bias";
  const bool is_bias = name.size() >= suffix.size() &&
                       name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  return !(p.dim() == 1 || is_bias);  // misc.add_weight_decay: len(shape) == 1 or .bias
}

AdamW::AdamW(std::vector<NamedParameter> params, const OptimConfig& cfg, std::vector<bool> owned)
    : cfg_(cfg) {
  if (!owned.empty() && owned.size() != params.size())
    throw optim_error("AdamW got an ownership mask of " + std::to_string(owned.size()) +
                      " entries for " + std::to_string(params.size()) + " parameters");
  if (params.empty())
    throw optim_error("AdamW got no parameters to optimise",
                      "check model.trainable: no parameter matched its patterns");
  if (!(cfg.beta1 >= 0.0 && cfg.beta1 < 1.0) || !(cfg.beta2 >= 0.0 && cfg.beta2 < 1.0) ||
      !(cfg.eps > 0.0) || !(cfg.weight_decay >= 0.0))
    throw optim_error(
        "invalid AdamW hyper-parameters (need 0 <= beta < 1, eps > 0, "
        "weight_decay >= 0)");
  std::set<std::string> seen;
  const at::Device device =
      params.front().param.defined() ? params.front().param.device() : at::Device(at::kCPU);
  at::NoGradGuard no_grad;
  for (auto& np : params) {
    if (np.name.empty()) throw optim_error("AdamW parameter with an empty name");
    if (!seen.insert(np.name).second) throw optim_error("AdamW parameter '" + np.name + "' twice");
    if (!np.param.defined()) throw optim_error("AdamW parameter '" + np.name + "' is undefined");
    if (np.param.scalar_type() != at::kFloat)
      throw optim_error("AdamW parameter '" + np.name + "' is " +
                            std::string(c10::toString(np.param.scalar_type())) +
                            "; trainable master weights must be fp32",
                        "cast trainable parameters to fp32 before building the optimizer");
    if (np.param.device() != device)
      throw optim_error("AdamW parameters are on several devices ('" + np.name + "' on " +
                        np.param.device().str() + ", the first on " + device.str() + ")");
    Slot s;
    s.param = np.param;
    s.owned = owned.empty() || owned[slots_.size()];
    if (s.owned) {
      s.exp_avg = at::zeros_like(np.param, at::MemoryFormat::Preserve);
      s.exp_avg_sq = at::zeros_like(np.param, at::MemoryFormat::Preserve);
    }
    s.decay = uses_weight_decay(np.name, np.param);
    names_.push_back(std::move(np.name));
    slots_.push_back(std::move(s));
  }
}

std::vector<at::Tensor> AdamW::params() const {
  std::vector<at::Tensor> out;
  out.reserve(slots_.size());
  for (const auto& s : slots_) out.push_back(s.param);
  return out;
}

void AdamW::step(double lr) {
  if (!(lr >= 0.0) || !std::isfinite(lr))
    throw optim_error("AdamW step with learning rate " + std::to_string(lr));
  for (size_t i = 0; i < slots_.size(); ++i) {
    const at::Tensor& g = slots_[i].param.grad();
    if (!g.defined() || !slots_[i].owned) continue;
    if (g.scalar_type() != at::kFloat || g.sizes() != slots_[i].param.sizes() || g.is_sparse() ||
        g.device() != slots_[i].param.device())
      throw optim_error("gradient of '" + names_[i] + "' is " +
                        std::string(c10::toString(g.scalar_type())) + " " + shape_str(g.sizes()) +
                        " on " + g.device().str() + "; expected dense fp32 " +
                        shape_str(slots_[i].param.sizes()) + " on the parameter's device");
  }
  at::NoGradGuard no_grad;
  for (bool decay_group : {false, true}) {
    if (cfg_.foreach)
      step_foreach(lr, decay_group);
    else
      step_loop(lr, decay_group);
  }
  ++steps_taken_;
}

void AdamW::step_foreach(double lr, bool decay_group) {
  std::vector<Slot*> active;
  for (auto& s : slots_)
    if (s.owned && s.decay == decay_group && s.param.grad().defined()) active.push_back(&s);
  size_t begin = 0;
  while (begin < active.size()) {
    // Chunks of about foreach_chunk_elements_ bound the sqrt(v) temporary (torch allocates it for
    // all parameters at once: 2.4 GB for the 608 M bind network). Element-wise, so chunking does
    // not change any value.
    size_t end = begin;
    int64_t elements = 0;
    while (end < active.size() && (end == begin || elements < foreach_chunk_elements_))
      elements += active[end++]->param.numel();
    foreach_update(std::vector<Slot*>(active.begin() + begin, active.begin() + end), lr,
                   decay_group ? cfg_.weight_decay : 0.0);
    begin = end;
  }
}

void AdamW::foreach_update(const std::vector<Slot*>& slots, double lr, double wd) {
  std::vector<at::Tensor> p, g, m, v;
  std::vector<at::Scalar> bc2_sqrt, neg_step_size;
  for (Slot* s : slots) {
    ++s->step;
    p.push_back(s->param);
    g.push_back(s->param.grad());
    m.push_back(s->exp_avg);
    v.push_back(s->exp_avg_sq);
    const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(s->step));
    const double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(s->step));
    neg_step_size.emplace_back(-(lr / bc1));
    bc2_sqrt.emplace_back(std::sqrt(bc2));
  }
  if (wd != 0.0) at::_foreach_mul_(p, 1.0 - lr * wd);  // decoupled decay: p *= 1 - lr*wd
  at::_foreach_mul_(m, cfg_.beta1);
  at::_foreach_add_(m, g, 1.0 - cfg_.beta1);
  at::_foreach_mul_(v, cfg_.beta2);
  at::_foreach_addcmul_(v, g, g, 1.0 - cfg_.beta2);
  std::vector<at::Tensor> denom = at::_foreach_sqrt(v);
  at::_foreach_div_(denom, bc2_sqrt);
  at::_foreach_add_(denom, cfg_.eps);  // eps after sqrt of the bias-corrected v (torch)
  at::_foreach_addcdiv_(p, m, denom, neg_step_size);
}

void AdamW::step_loop(double lr, bool decay_group) {
  const double wd = decay_group ? cfg_.weight_decay : 0.0;
  for (auto& s : slots_) {
    if (!s.owned || s.decay != decay_group || !s.param.grad().defined()) continue;
    const at::Tensor& g = s.param.grad();
    ++s.step;
    const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(s.step));
    const double bc2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(s.step));
    if (wd != 0.0) s.param.mul_(1.0 - lr * wd);
    s.exp_avg.mul_(cfg_.beta1).add_(g, 1.0 - cfg_.beta1);
    s.exp_avg_sq.mul_(cfg_.beta2).addcmul_(g, g, 1.0 - cfg_.beta2);
    at::Tensor denom = (s.exp_avg_sq.sqrt() / std::sqrt(bc2)).add_(cfg_.eps);
    s.param.addcdiv_(s.exp_avg, denom, -(lr / bc1));
  }
}

void AdamW::zero_grad() {
  for (auto& s : slots_) {
    if (s.param.grad().defined()) s.param.mutable_grad() = at::Tensor();
  }
}

std::map<std::string, at::Tensor> AdamW::state_dict() const {
  std::map<std::string, at::Tensor> out;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].owned) continue;
    out[names_[i] + ".exp_avg"] = slots_[i].exp_avg.detach();
    out[names_[i] + ".exp_avg_sq"] = slots_[i].exp_avg_sq.detach();
    out[names_[i] + ".step"] = at::scalar_tensor(slots_[i].step, at::kLong);
  }
  out["steps_taken"] = at::scalar_tensor(steps_taken_, at::kLong);
  return out;
}

void AdamW::load_state_dict(const std::map<std::string, at::Tensor>& state) {
  std::vector<std::string> missing, unexpected, bad;
  std::set<std::string> expected{"steps_taken"};
  std::vector<int64_t> steps(slots_.size(), 0);
  int64_t steps_taken = 0;
  auto find = [&](const std::string& key) -> const at::Tensor* {
    auto it = state.find(key);
    if (it == state.end()) {
      missing.push_back(key);
      return nullptr;
    }
    return &it->second;
  };
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].owned) {  // another rank's shard: its keys may be present, and are ignored
      for (const char* k : {".exp_avg", ".exp_avg_sq", ".step"}) expected.insert(names_[i] + k);
      continue;
    }
    for (const char* moment : {".exp_avg", ".exp_avg_sq"}) {
      const std::string key = names_[i] + moment;
      expected.insert(key);
      const at::Tensor* t = find(key);
      if (!t) continue;
      if (!t->defined() || t->scalar_type() != at::kFloat || t->sizes() != slots_[i].param.sizes())
        bad.push_back(key + " is " +
                      (t->defined() ? std::string(c10::toString(t->scalar_type())) + " " +
                                          shape_str(t->sizes())
                                    : std::string("undefined")) +
                      ", expected Float " + shape_str(slots_[i].param.sizes()));
    }
    const std::string key = names_[i] + ".step";
    expected.insert(key);
    if (const at::Tensor* t = find(key)) {
      const std::string why = read_step(*t, steps[i]);
      if (!why.empty()) bad.push_back(key + " " + why);
    }
  }
  if (const at::Tensor* t = find("steps_taken")) {
    const std::string why = read_step(*t, steps_taken);
    if (!why.empty()) bad.push_back("steps_taken " + why);
  }
  for (const auto& kv : state)
    if (!expected.count(kv.first)) unexpected.push_back(kv.first);
  if (!missing.empty() || !unexpected.empty() || !bad.empty()) {
    std::string msg = "optimizer state does not match the " + std::to_string(slots_.size()) +
                      " trainable parameters:";
    if (!missing.empty())
      msg += "\n  missing (" + std::to_string(missing.size()) + "): " + join_limited(missing);
    if (!unexpected.empty())
      msg +=
          "\n  unexpected (" + std::to_string(unexpected.size()) + "): " + join_limited(unexpected);
    if (!bad.empty())
      msg += "\n  mismatched (" + std::to_string(bad.size()) + "): " + join_limited(bad);
    throw CheckpointError(msg,
                          "the checkpoint was written for a different trainable set; resume with "
                          "the same model.trainable patterns and phase");
  }
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].owned) continue;
    slots_[i].exp_avg.copy_(state.at(names_[i] + ".exp_avg"));
    slots_[i].exp_avg_sq.copy_(state.at(names_[i] + ".exp_avg_sq"));
    slots_[i].step = steps[i];
  }
  steps_taken_ = steps_taken;
}

int64_t AdamW::state_bytes() const {
  int64_t b = 0;
  for (const auto& s : slots_)
    if (s.owned) b += 2 * s.param.numel() * static_cast<int64_t>(sizeof(float));
  return b;
}

int64_t AdamW::full_state_bytes() const {
  int64_t b = 0;
  for (const auto& s : slots_) b += 2 * s.param.numel() * static_cast<int64_t>(sizeof(float));
  return b;
}

std::string AdamW::summary() const {
  int64_t n[2] = {0, 0}, numel[2] = {0, 0}, owned = 0;
  for (const auto& s : slots_) {
    n[s.decay] += 1;
    numel[s.decay] += s.param.numel();
    owned += s.owned ? 1 : 0;
  }
  char mb[96];
  if (owned == static_cast<int64_t>(slots_.size()))
    std::snprintf(mb, sizeof mb, "; state %.1f MB", static_cast<double>(state_bytes()) / 1e6);
  else
    std::snprintf(mb, sizeof mb, "; state %.1f MB of %.1f MB here (%lld of %zu tensors, ZeRO-1)",
                  static_cast<double>(state_bytes()) / 1e6,
                  static_cast<double>(full_state_bytes()) / 1e6, static_cast<long long>(owned),
                  slots_.size());
  return "decay: " + std::to_string(n[1]) + " tensors / " + human_count(numel[1]) +
         " params, no_decay: " + std::to_string(n[0]) + " tensors / " + human_count(numel[0]) +
         " params" + mb;
}

}  // namespace ibllm::train

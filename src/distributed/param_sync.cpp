// Parameter broadcast and signature comparison; see param_sync.h. Signatures are compared as
// flattened JSON (path -> value), so the error can name the exact differing keys; every rank
// computes the same diff from the same gathered data and therefore throws the same error.
#include "src/distributed/param_sync.h"

#include <algorithm>
#include <map>
#include <string>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "src/distributed/buckets.h"
#include "src/distributed/dist_error.h"

namespace ibllm::dist {
namespace {

constexpr int64_t kBroadcastBucketBytes = 64ll << 20;
constexpr int64_t kInPlaceBytes = 1ll << 20;
constexpr size_t kMaxKeysPerRank = 8;

void flatten(const nlohmann::json& j, const std::string& path,
             std::map<std::string, std::string>& out) {
  if (j.is_object() && !j.empty()) {
    for (auto it = j.begin(); it != j.end(); ++it) flatten(it.value(), path + "/" + it.key(), out);
    return;
  }
  bool scalars = true;
  if (j.is_array())
    for (const auto& e : j) scalars = scalars && !e.is_structured();
  if (j.is_array() && !scalars) {
    for (size_t i = 0; i < j.size(); ++i) flatten(j[i], path + "/" + std::to_string(i), out);
    return;
  }
  out[path.empty() ? "/" : path] = j.dump();
}

std::string diff(const std::map<std::string, std::string>& ref,
                 const std::map<std::string, std::string>& other, int64_t rank) {
  std::vector<std::string> lines;
  size_t total = 0;
  auto note = [&](const std::string& line) {
    if (lines.size() < kMaxKeysPerRank) lines.push_back(line);
    ++total;
  };
  const std::string r = "rank " + std::to_string(rank);
  for (const auto& [k, v] : ref) {
    auto it = other.find(k);
    if (it == other.end())
      note(k + " missing on " + r + " (rank 0: " + v + ")");
    else if (it->second != v)
      note(k + " = " + it->second + " on " + r + ", " + v + " on rank 0");
  }
  for (const auto& [k, v] : other)
    if (ref.count(k) == 0) note(k + " = " + v + " only on " + r);
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  if (total > lines.size()) out += "\n  ... and " + std::to_string(total - lines.size()) + " more";
  return out;
}

}  // namespace

void broadcast_parameters(Communicator& comm, const std::vector<at::Tensor>& params) {
  broadcast_from_owners(comm, params, std::vector<int64_t>(params.size(), 0));
}

std::vector<int64_t> partition_by_size(const std::vector<at::Tensor>& tensors, int64_t world_size) {
  if (world_size < 1) throw DistError("partition over " + std::to_string(world_size) + " ranks");
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors[a].numel() > tensors[b].numel();
  });
  std::vector<int64_t> load(static_cast<size_t>(world_size), 0);
  std::vector<int64_t> owner(tensors.size(), 0);
  for (size_t i : order) {
    const auto r = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[i] = static_cast<int64_t>(r);
    load[r] += tensors[i].numel();
  }
  return owner;
}

void broadcast_from_owners(Communicator& comm, const std::vector<at::Tensor>& tensors,
                           const std::vector<int64_t>& owner) {
  if (owner.size() != tensors.size())
    throw DistError("broadcast_from_owners: " + std::to_string(owner.size()) + " owners for " +
                    std::to_string(tensors.size()) + " tensors");
  if (comm.world_size() <= 1 || tensors.empty()) return;
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].device() != comm.device())
      throw DistError("tensor " + std::to_string(i) + " is on " + tensors[i].device().str() +
                          " but the communicator works on " + comm.device().str(),
                      "move the model to its device before broadcasting parameters");
  }
  // Same plan on every rank: owners in rank order; per owner, large tensors in place, then the
  // small (or strided) ones in buckets (all started together by Communicator::broadcast).
  for (int64_t root = 0; root < comm.world_size(); ++root) {
    std::vector<at::Tensor> direct, small;
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (owner[i] != root) continue;
      const int64_t bytes = tensors[i].numel() * static_cast<int64_t>(tensors[i].element_size());
      (bytes >= kInPlaceBytes && tensors[i].is_contiguous() ? direct : small).push_back(tensors[i]);
    }
    const std::vector<Bucket> buckets = plan_buckets(small, kBroadcastBucketBytes);
    std::vector<at::Tensor> wire = direct;
    for (const auto& b : buckets) {
      wire.push_back(at::empty({b.numel}, at::TensorOptions(b.dtype).device(b.device)));
      if (comm.rank() == root) pack_bucket(b, small, wire.back());
    }
    if (wire.empty()) continue;
    comm.broadcast(wire, root);
    if (comm.rank() != root)
      for (size_t k = 0; k < buckets.size(); ++k)
        unpack_bucket(buckets[k], wire[direct.size() + k], small);
  }
}

void check_same_signature(Communicator& comm, const nlohmann::json& signature) {
  if (comm.world_size() <= 1) return;
  const std::vector<std::string> all = comm.all_gather_strings(signature.dump());
  std::map<std::string, std::string> ref;
  flatten(nlohmann::json::parse(all[0]), "", ref);
  std::string details;
  std::vector<int64_t> differing;
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r] == all[0]) continue;
    std::map<std::string, std::string> other;
    flatten(nlohmann::json::parse(all[r]), "", other);
    differing.push_back(static_cast<int64_t>(r));
    details += diff(ref, other, static_cast<int64_t>(r));
  }
  if (differing.empty()) return;
  std::string ranks;
  for (auto r : differing) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  throw DistError("model signature differs across ranks (seen on rank " +
                      std::to_string(comm.rank()) + "): rank(s) " + ranks +
                      " differ from rank 0:" + details,
                  "every rank must build the same model from the same config and weights");
}

}  // namespace ibllm::dist

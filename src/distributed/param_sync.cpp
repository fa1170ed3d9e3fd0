// Parameter broadcast and signature comparison; see param_sync.h. Signatures are compared as
// flattened JSON (path -> value), so the error can name the exact differing keys; every rank
// computes the same diff from the same gathered data and therefore throws the same error.
#include "src/distributed/param_sync.h"

#include <map>
#include <string>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "src/distributed/buckets.h"
#include "src/distributed/dist_error.h"

namespace ibllm::dist {
namespace {

constexpr int64_t kBroadcastBucketBytes = 64ll << 20;
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
  if (comm.world_size() <= 1 || params.empty()) return;
  at::NoGradGuard no_grad;
  const std::vector<Bucket> buckets = plan_buckets(params, kBroadcastBucketBytes);
  std::vector<at::Tensor> flats;
  for (const auto& b : buckets) {
    if (b.device != comm.device())
      throw DistError("parameter " + std::to_string(b.members.front()) + " is on " +
                          b.device.str() + " but the communicator works on " +
                          comm.device().str(),
                      "move the model to its device before broadcasting parameters");
    flats.push_back(at::empty({b.numel}, at::TensorOptions(b.dtype).device(b.device)));
    pack_bucket(b, params, flats.back());
  }
  comm.broadcast(flats, 0);
  for (size_t k = 0; k < buckets.size(); ++k) unpack_bucket(buckets[k], flats[k], params);
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

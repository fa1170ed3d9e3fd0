// Meta <-> HF LLaMA key maps: the row permutation formula of spec §2.3, round trips that are the
// identity on a tiny random LLaMA with ImageBind-LLM deltas, attention scores that agree between
// (Meta weights + interleaved RoPE) and (HF weights + rotate-half RoPE) including the q bias and
// LoRA deltas, GQA, legacy renames, RoPE buffers, and merging model-parallel shards.
#include <ATen/ATen.h>

#include <cmath>

#include "src/core/error.h"
#include "src/io/llama_key_map.h"
#include "tests/support/catch.h"
#include "tests/support/tensor_match.h"

using ibllm::IoError;
using namespace ibllm::io;

namespace {

constexpr int64_t kDim = 16, kHeads = 2, kHd = 8, kFfn = 24, kRank = 4, kLayers = 2;

// A Meta-layout ImageBind-LLM state dict under "llama." plus non-LLaMA keys.
std::map<std::string, at::Tensor> tiny_meta(int64_t kv_heads = kHeads) {
  at::manual_seed(11);
  std::map<std::string, at::Tensor> sd;
  const int64_t kv_dim = kv_heads * kHd;
  sd["llama.tok_embeddings.weight"] = at::randn({32, kDim});
  sd["llama.norm.weight"] = at::randn({kDim});
  sd["llama.output.weight"] = at::randn({32, kDim});
  sd["llama.rope.freqs"] = at::randn({kHd / 2});
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string p = "llama.layers." + std::to_string(l) + ".";
    sd[p + "attention.wq.weight"] = at::randn({kDim, kDim});
    sd[p + "attention.wk.weight"] = at::randn({kv_dim, kDim});
    sd[p + "attention.wv.weight"] = at::randn({kv_dim, kDim});
    sd[p + "attention.wo.weight"] = at::randn({kDim, kDim});
    sd[p + "attention.wq.bias"] = at::randn({kDim});
    sd[p + "attention.wo.bias"] = at::randn({kDim});
    sd[p + "attention.gate"] = at::randn({1, kHeads, 1, 1}).to(at::kHalf);
    for (const char* w : {"q", "k", "v", "o"}) {
      const int64_t out = (std::string(w) == "k" || std::string(w) == "v") ? kv_dim : kDim;
      sd[p + "attention.lora_w" + w + "_l1.weight"] = at::randn({kRank, kDim});
      sd[p + "attention.lora_w" + w + "_l2.weight"] = at::randn({out, kRank});
    }
    sd[p + "attention.inner_attention.rope.freqs"] = at::randn({kHd / 2});
    sd[p + "feed_forward.w1.weight"] = at::randn({kFfn, kDim});
    sd[p + "feed_forward.w2.weight"] = at::randn({kDim, kFfn});
    sd[p + "feed_forward.w3.weight"] = at::randn({kFfn, kDim});
    sd[p + "feed_forward.w1.bias"] = at::randn({kFfn});
    for (const char* w : {"1", "2", "3"}) {
      sd[p + "feed_forward.lora_w" + w + "_l1.weight"] = at::randn({kRank, std::string(w) == "2" ? kFfn : kDim});
      sd[p + "feed_forward.lora_w" + w + "_l2.weight"] = at::randn({std::string(w) == "2" ? kDim : kFfn, kRank});
    }
    sd[p + "attention_norm.weight"] = at::randn({kDim});
    sd[p + "ffn_norm.weight"] = at::randn({kDim});
  }
  sd["image_bind_proj.weight"] = at::randn({kDim, 8});
  sd["prefix_query.weight"] = at::randn({kLayers, kDim});
  return sd;
}

// Meta RoPE: pairs (x[2i], x[2i+1]) rotated as complex numbers. x: (S, H, hd).
at::Tensor rope_interleaved(const at::Tensor& x) {
  auto out = x.clone();
  for (int64_t p = 0; p < x.size(0); ++p) {
    for (int64_t i = 0; i < kHd / 2; ++i) {
      const double a = p * std::pow(10000.0, -2.0 * i / kHd);
      auto re = x.select(0, p).select(1, 2 * i), im = x.select(0, p).select(1, 2 * i + 1);
      out.select(0, p).select(1, 2 * i).copy_(re * std::cos(a) - im * std::sin(a));
      out.select(0, p).select(1, 2 * i + 1).copy_(re * std::sin(a) + im * std::cos(a));
    }
  }
  return out;
}

// HF RoPE: rotate_half over (x[i], x[i + hd/2]).
at::Tensor rope_rotate_half(const at::Tensor& x) {
  auto out = x.clone();
  for (int64_t p = 0; p < x.size(0); ++p) {
    for (int64_t i = 0; i < kHd / 2; ++i) {
      const double a = p * std::pow(10000.0, -2.0 * i / kHd);
      auto x1 = x.select(0, p).select(1, i), x2 = x.select(0, p).select(1, i + kHd / 2);
      out.select(0, p).select(1, i).copy_(x1 * std::cos(a) - x2 * std::sin(a));
      out.select(0, p).select(1, i + kHd / 2).copy_(x2 * std::cos(a) + x1 * std::sin(a));
    }
  }
  return out;
}

// Attention scores q.k^T per head, with the ImageBind-LLM q bias and LoRA deltas. x: (S, D).
at::Tensor scores(const at::Tensor& x, const at::Tensor& wq, const at::Tensor& bq, const at::Tensor& aq,
                  const at::Tensor& bq_lora, const at::Tensor& wk, const at::Tensor& ak,
                  const at::Tensor& bk_lora, bool hf) {
  auto q = at::matmul(x, wq.t()) + bq + at::matmul(at::matmul(x, aq.t()), bq_lora.t());
  auto k = at::matmul(x, wk.t()) + at::matmul(at::matmul(x, ak.t()), bk_lora.t());
  q = q.view({x.size(0), kHeads, kHd});
  k = k.view({x.size(0), kHeads, kHd});
  q = hf ? rope_rotate_half(q) : rope_interleaved(q);
  k = hf ? rope_rotate_half(k) : rope_interleaved(k);
  return at::einsum("shd,thd->hst", {q, k});
}

}  // namespace

TEST_CASE("llama key map: row permutation follows spec 2.3", "[io]") {
  const auto meta = at::arange(kHeads * kHd, at::kFloat).unsqueeze(1).repeat({1, 3});
  const auto hf = meta_to_hf_rows(meta, kHeads);
  for (int64_t h = 0; h < kHeads; ++h) {
    for (int64_t t = 0; t < 2; ++t) {
      for (int64_t i = 0; i < kHd / 2; ++i) {
        CHECK(hf[h * kHd + t * kHd / 2 + i][0].item<float>() == meta[h * kHd + 2 * i + t][0].item<float>());
      }
    }
  }
  CHECK(at::equal(hf_to_meta_rows(hf, kHeads), meta));
  const auto bias = at::arange(kHeads * kHd, at::kFloat);
  CHECK(at::equal(meta_to_hf_rows(bias, kHeads), hf.select(1, 0)));
  CHECK_THROWS_AS(meta_to_hf_rows(at::zeros({6, 2}), 4), IoError);
}

TEST_CASE("llama key map: names, RoPE buffers and pass-through keys", "[io]") {
  CHECK(*meta_to_hf_key("llama.layers.3.attention.wq.weight", "llama.") == "model.layers.3.self_attn.q_proj.weight");
  CHECK(*meta_to_hf_key("layers.0.feed_forward.w2.weight") == "model.layers.0.mlp.down_proj.weight");
  CHECK(*meta_to_hf_key("tok_embeddings.weight") == "model.embed_tokens.weight");
  CHECK(*meta_to_hf_key("output.weight") == "lm_head.weight");
  CHECK(*meta_to_hf_key("layers.1.ffn_norm.weight") == "model.layers.1.post_attention_layernorm.weight");
  CHECK(*meta_to_hf_key("layers.1.attention.lora_wk_l2.weight") == "model.layers.1.self_attn.k_proj.lora_B.weight");
  CHECK(*hf_to_meta_key("model.layers.1.self_attn.k_proj.lora_B.weight") == "layers.1.attention.lora_wk_l2.weight");
  CHECK(*hf_to_meta_key("model.layers.1.self_attn.k_proj.weight", "llama.") == "llama.layers.1.attention.wk.weight");
  CHECK(*hf_to_meta_key("model.layers.2.self_attn.gate") == "layers.2.attention.gate");
  CHECK_FALSE(meta_to_hf_key("rope.freqs"));
  CHECK_FALSE(meta_to_hf_key("layers.4.attention.inner_attention.rope.freqs"));
  CHECK_FALSE(hf_to_meta_key("model.layers.0.self_attn.rotary_emb.inv_freq"));
  CHECK(*meta_to_hf_key("image_bind_proj.weight", "llama.") == "image_bind_proj.weight");
  CHECK(*hf_to_meta_key("image_bind_proj.weight") == "image_bind_proj.weight");
  CHECK_THROWS_WITH(meta_to_hf_key("layers.0.attention.wz.weight"), Catch::Matchers::Contains("layers.0.attention.wz.weight"));
  CHECK_THROWS_AS(hf_to_meta_key("model.layers.0.mlp.weird.weight"), IoError);
  CHECK(rename_legacy_llma("llma.layers.0.attention.gate") == "llama.layers.0.attention.gate");
  CHECK(rename_legacy_llma("llamaX") == "llamaX");
}

TEST_CASE("llama key map: Meta -> HF -> Meta and HF -> Meta -> HF are the identity", "[io]") {
  for (int64_t kv : {kHeads, int64_t{1}}) {  // MHA and GQA
    INFO("kv heads " << kv);
    const auto meta = tiny_meta(kv);
    LlamaKeyMapOptions o{kHeads, kv, "llama."};
    const auto hf = meta_to_hf_llama(meta, o);
    CHECK(hf.count("model.layers.1.self_attn.q_proj.lora_B.weight") == 1);
    CHECK(hf.count("llama.rope.freqs") == 0);
    CHECK_FALSE(at::equal(hf.at("model.layers.0.self_attn.q_proj.weight"), meta.at("llama.layers.0.attention.wq.weight")));
    CHECK(at::equal(hf.at("model.layers.0.self_attn.v_proj.weight"), meta.at("llama.layers.0.attention.wv.weight")));
    const auto back = hf_to_meta_llama(hf, o);
    size_t rope = 0;
    for (const auto& [k, v] : meta) {
      if (is_rope_buffer(k)) {
        ++rope;
        continue;
      }
      INFO(k);
      REQUIRE(back.count(k) == 1);
      CHECK(at::equal(back.at(k), v));
    }
    CHECK(back.size() + rope == meta.size());
    const auto hf2 = meta_to_hf_llama(back, o);
    for (const auto& [k, v] : hf) CHECK(at::equal(hf2.at(k), v));
  }
}

TEST_CASE("llama key map: permuted q/k (with deltas) give the same attention scores", "[io]") {
  const auto meta = tiny_meta();
  const auto hf = meta_to_hf_llama(meta, {kHeads, 0, "llama."});
  const auto x = at::randn({5, kDim});
  const std::string m = "llama.layers.1.attention.", h = "model.layers.1.self_attn.";
  const auto s_meta = scores(x, meta.at(m + "wq.weight"), meta.at(m + "wq.bias"), meta.at(m + "lora_wq_l1.weight"),
                             meta.at(m + "lora_wq_l2.weight"), meta.at(m + "wk.weight"),
                             meta.at(m + "lora_wk_l1.weight"), meta.at(m + "lora_wk_l2.weight"), false);
  const auto s_hf = scores(x, hf.at(h + "q_proj.weight"), hf.at(h + "q_proj.bias"), hf.at(h + "q_proj.lora_A.weight"),
                           hf.at(h + "q_proj.lora_B.weight"), hf.at(h + "k_proj.weight"),
                           hf.at(h + "k_proj.lora_A.weight"), hf.at(h + "k_proj.lora_B.weight"), true);
  IBLLM_CHECK_TENSOR(s_hf, s_meta, 1e-5, 1e-4);  // fp32 sums of 16 products; atol for near-zero scores
  // Without permuting the deltas the scores differ: the rule is needed.
  const auto s_wrong = scores(x, hf.at(h + "q_proj.weight"), meta.at(m + "wq.bias"), hf.at(h + "q_proj.lora_A.weight"),
                              meta.at(m + "lora_wq_l2.weight"), hf.at(h + "k_proj.weight"),
                              hf.at(h + "k_proj.lora_A.weight"), hf.at(h + "k_proj.lora_B.weight"), true);
  CHECK((s_wrong - s_meta).abs().max().item<float>() > 1e-2f);
}

TEST_CASE("llama key map: model-parallel Meta shards merge by layer type", "[io]") {
  std::map<std::string, at::Tensor> full;
  for (const auto& [k, v] : tiny_meta()) {
    if (k.rfind("llama.", 0) != 0) continue;
    const std::string key = k.substr(6);
    if (key.find("lora") != std::string::npos || key.find("bias") != std::string::npos ||
        key.find("gate") != std::string::npos) {
      continue;  // deltas are never model-parallel
    }
    full[key] = v;
  }
  std::vector<std::map<std::string, at::Tensor>> shards(2);
  for (const auto& [k, v] : full) {
    const int64_t dim = meta_shard_dim(k);
    for (int s = 0; s < 2; ++s) shards[s][k] = dim < 0 ? v : v.chunk(2, dim)[s].contiguous();
  }
  CHECK(shards[0].at("tok_embeddings.weight").size(1) == kDim / 2);
  CHECK(shards[1].at("layers.0.feed_forward.w2.weight").size(1) == kFfn / 2);
  const auto merged = merge_meta_shards(shards);
  REQUIRE(merged.size() == full.size());
  for (const auto& [k, v] : full) CHECK(at::equal(merged.at(k), v));

  auto bad = shards;
  bad[1]["norm.weight"] = bad[1]["norm.weight"] + 1;
  CHECK_THROWS_WITH(merge_meta_shards(bad), Catch::Matchers::Contains("norm.weight"));
  bad = shards;
  bad[1].erase("layers.1.attention.wo.weight");
  CHECK_THROWS_WITH(merge_meta_shards(bad), Catch::Matchers::Contains("layers.1.attention.wo.weight"));
  CHECK_THROWS_AS(meta_shard_dim("layers.0.attention.lora_wq_l1.weight"), IoError);
}

// `ibllm bench`: times the real training step (TrainStep: towers, bind network, LLaMA, loss,
// backward, clipping, AdamW) on synthetic batches at the configured shapes with randomly
// initialised weights, on whatever device the config selects. Warm-up steps are untimed; each
// timed step is synchronised. One JSON object per batch size. Started by a launcher, every rank
// times the data-parallel step (gradient sync, overlap, ZeRO-1 as configured) and the gradient
// all-reduce alone; bench.grad_sync does the same through a process group of one.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "trainers/run_setup.h"

namespace ibllm::train {

// batch_size 0: data.batch_size. Returns {"bench":"train_step", step_ms, samples_per_s,
// tokens_per_s, mfu (GPU), peak_mem_gib, precision, batch, seq_len, rank, world_size,
// phase_ms {encoder_forward, llm_forward, backward, grad_sync, optimizer} (mean per timed step,
// CUDA events on a GPU, wall clock on the CPU; phase_timing says which),
// optimizer_state_gib, grad_sync {buckets, mb, overlap, allreduce_ms, allreduce_gbps, ...}}.
// `run` comes from setup_run with SetupOptions::bench and the communicator; every call times the
// same model with a fresh optimizer.
nlohmann::json bench_train_step(RunSetup& run, int64_t batch_size = 0);

// Decoding throughput of the batched KV-cache generator: `batch` prompts of `prompt_len` random
// tokens with a visual injection, greedy, exactly generation.max_new_tokens new tokens (no EOS), after
// one untimed warm-up. {"bench":"decode", batch, prompt_len, new_tokens, tokens_per_s,
// ms_per_step (= ms_per_token of each sequence), prefill_ms, weights_gib};
// tokens_per_s = batch / ms_per_step.
nlohmann::json bench_decode(RunSetup& run, int64_t batch, int64_t prompt_len = 32);

}  // namespace ibllm::train

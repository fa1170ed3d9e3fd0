// The fuzz harnesses: one function per parser we wrote ourselves, each taking one raw input.
// tests/fuzz/libfuzzer_main.cpp turns one of them into a libFuzzer executable (IBLLM_FUZZ=ON);
// fuzz_replay_test.cpp runs every committed input of tests/fuzz/{corpus,regressions}/<name>/
// through all of them in ibllm_tests. Not covered, because the bytes are parsed by libraries
// that are not ours: images and video (OpenCV), audio containers (libsndfile; our code after it
// is covered by `audio`), the zip container of .pth files (LibTorch's miniz reader; our own check
// of its directory, src/io/zip_directory, runs first and is covered by `pth`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ibllm::fuzz {

int safetensors_one_input(const uint8_t* data, size_t size);  // src/io/safetensors
int pth_one_input(const uint8_t* data, size_t size);          // src/io/pth_reader (zip + pickle)
int pickle_one_input(const uint8_t* data, size_t size);       // src/io/pickle* (data.pkl alone)
int config_one_input(const uint8_t* data, size_t size);       // YAML -> Document -> RunConfig
int tsv_one_input(const uint8_t* data, size_t size);          // caption TSV through Dataset
int json_records_one_input(const uint8_t* data, size_t size);  // LLaVA/Alpaca/JSONL via Dataset
int sentencepiece_one_input(const uint8_t* data, size_t size);  // tokenizer.model bytes
int clip_text_one_input(const uint8_t* data, size_t size);     // CLIP BPE text (real vocabulary)
int clip_vocab_one_input(const uint8_t* data, size_t size);    // CLIP BPE vocabulary file
int npy_one_input(const uint8_t* data, size_t size);           // data/transforms/npy
int point_cloud_one_input(const uint8_t* data, size_t size);   // .ply/.xyz/.obj/.npy/.pt loaders
int audio_one_input(const uint8_t* data, size_t size);         // WAV -> ImageBind audio input

struct Harness {
  const char* name;  // folder name under tests/fuzz/{corpus,regressions,dict}
  int (*one_input)(const uint8_t*, size_t);
  // An asset from ../shared the harness loads once (its replay skips visibly without it).
  const char* shared_asset;
};
const std::vector<Harness>& harnesses();

// The shared asset clip_text loads: the real CLIP vocabulary (bpe_simple_vocab_16e6.txt.gz).
const char* clip_vocab_asset_name();

}  // namespace ibllm::fuzz

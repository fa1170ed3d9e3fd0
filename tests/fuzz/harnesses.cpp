// The table of fuzz harnesses (see harnesses.h); run.sh and the replay test read it by name.
#include "tests/fuzz/harnesses.h"

namespace ibllm::fuzz {

const char* clip_vocab_asset_name() { return "clip_bpe_simple_vocab_16e6.txt.gz"; }

const std::vector<Harness>& harnesses() {
  static const std::vector<Harness> kAll = {
      {"safetensors", safetensors_one_input, nullptr},
      {"pth", pth_one_input, nullptr},
      {"pickle", pickle_one_input, nullptr},
      {"config", config_one_input, nullptr},
      {"tsv", tsv_one_input, nullptr},
      {"json_records", json_records_one_input, nullptr},
      {"sentencepiece", sentencepiece_one_input, nullptr},
      {"clip_text", clip_text_one_input, clip_vocab_asset_name()},
      {"clip_vocab", clip_vocab_one_input, nullptr},
      {"npy", npy_one_input, nullptr},
      {"point_cloud", point_cloud_one_input, nullptr},
      {"audio", audio_one_input, nullptr},
  };
  return kAll;
}

}  // namespace ibllm::fuzz

// TensorBoard scalar event files without protobuf: each record is TFRecord-framed
// (u64 len, masked crc32c(len), payload, masked crc32c(payload)) and the payload is a hand-encoded
// Event{wall_time=1, step=2, file_version=3, summary=5{value{tag=1, simple_value=2}}}. Zero-valued
// fields are omitted exactly as a proto3 serializer does, so our bytes equal protobuf's.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace ibllm::core {

// Payload encoders (exposed for the byte-exact golden test).
std::string encode_file_version_event(double wall_time);
std::string encode_scalar_event(const std::string& tag, float value, int64_t step, double wall_time);
// TFRecord framing of one payload.
std::string frame_record(const std::string& payload);

class TensorBoardWriter {
 public:
  // Creates `dir` and events.out.tfevents.<unix seconds>.<hostname> in it; writes the version event.
  explicit TensorBoardWriter(const std::string& dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  void add_scalar(const std::string& tag, double value, int64_t step);
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& payload);
  std::string path_;
  std::FILE* f_ = nullptr;
};

}  // namespace ibllm::core

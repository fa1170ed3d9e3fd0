// TensorBoard event writer (see tensorboard_writer.h). Little-endian hosts only (x86-64, aarch64).
#include "src/core/tensorboard_writer.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "src/core/crc32c.h"
#include "src/core/error.h"

namespace ibllm::core {

namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

template <class T>
void put_raw(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

void put_tag(std::string& out, int field, int wire) { put_varint(out, (field << 3) | wire); }

void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_tag(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

// Event header fields shared by all events: wall_time (1, fixed64 double) and step (2, varint).
std::string event_prefix(double wall_time, int64_t step) {
  std::string e;
  if (wall_time != 0.0) {
    put_tag(e, 1, 1);
    put_raw(e, wall_time);
  }
  if (step != 0) {
    put_tag(e, 2, 0);
    put_varint(e, static_cast<uint64_t>(step));
  }
  return e;
}

double now_seconds() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count() / 1e6;
}

}  // namespace

std::string encode_file_version_event(double wall_time) {
  std::string e = event_prefix(wall_time, 0);
  put_bytes(e, 3, "brain.Event:2");
  return e;
}

std::string encode_scalar_event(const std::string& tag, float value, int64_t step, double wall_time) {
  std::string v;
  if (!tag.empty()) put_bytes(v, 1, tag);
  if (value != 0.0f || std::signbit(value)) {
    put_tag(v, 2, 5);
    put_raw(v, value);
  }
  std::string summary;
  put_bytes(summary, 1, v);
  std::string e = event_prefix(wall_time, step);
  put_bytes(e, 5, summary);
  return e;
}

std::string frame_record(const std::string& payload) {
  std::string r;
  uint64_t len = payload.size();
  put_raw(r, len);
  put_raw(r, masked_crc32c(&len, sizeof(len)));
  r += payload;
  put_raw(r, masked_crc32c(payload.data(), payload.size()));
  return r;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  double t = now_seconds();
  path_ = (std::filesystem::path(dir) /
           ("events.out.tfevents." + std::to_string(static_cast<int64_t>(t)) + "." + host))
              .string();
  f_ = std::fopen(path_.c_str(), "ab");
  if (!f_) throw IoError("cannot create TensorBoard event file '" + path_ + "': " + std::strerror(errno));
  write_record(encode_file_version_event(t));
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  if (f_) std::fclose(f_);
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  write_record(encode_scalar_event(tag, static_cast<float>(value), step, now_seconds()));
}

void TensorBoardWriter::flush() {
  if (std::fflush(f_) != 0) throw IoError("flush of '" + path_ + "' failed: " + std::strerror(errno));
}

void TensorBoardWriter::write_record(const std::string& payload) {
  std::string r = frame_record(payload);
  if (std::fwrite(r.data(), 1, r.size(), f_) != r.size())
    throw IoError("write to '" + path_ + "' failed: " + std::strerror(errno));
}

}  // namespace ibllm::core

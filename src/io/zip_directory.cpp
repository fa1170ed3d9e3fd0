// Zip central directory reader and plausibility checks; see zip_directory.h. Layouts: PKWARE
// APPNOTE 4.3.12 (central header), 4.3.14-16 (zip64 end records), 4.5.3 (zip64 extra field).
#include "src/io/zip_directory.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "src/core/error.h"

namespace ibllm::io {
namespace {

constexpr uint64_t kDeflateMaxRatio = 1032;  // deflate cannot expand a byte into more than this

uint16_t zip_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t zip_u32(const uint8_t* p) {
  return zip_u16(p) | (static_cast<uint32_t>(zip_u16(p + 2)) << 16);
}
uint64_t zip_u64(const uint8_t* p) {
  return zip_u32(p) | (static_cast<uint64_t>(zip_u32(p + 4)) << 32);
}

std::vector<uint8_t> read_at(int fd, uint64_t offset, uint64_t n, const std::string& path) {
  std::vector<uint8_t> buf(n);
  pread_exact(fd, buf.data(), n, offset, path);
  return buf;
}

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw IoError(path + ": not a readable zip archive: " + what,
                "the file is truncated or corrupt; compare its size with the original");
}

}  // namespace

void pread_exact(int fd, uint8_t* dst, uint64_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, dst, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      throw IoError(path + ": read of " + std::to_string(n) + " bytes at offset " +
                    std::to_string(offset) +
                    " failed: " + (r == 0 ? "unexpected end of file" : std::strerror(errno)));
    }
    dst += r;
    n -= static_cast<uint64_t>(r);
    offset += static_cast<uint64_t>(r);
  }
}

std::vector<ZipEntry> read_zip_directory(int fd, uint64_t file_size, const std::string& path) {
  // End of central directory: 22 bytes + a comment of up to 65535 bytes, searched from the end.
  if (file_size < 22) bad(path, "shorter than a zip end record");
  const uint64_t tail_n = std::min<uint64_t>(file_size, 22 + 65535);
  const auto tail = read_at(fd, file_size - tail_n, tail_n, path);
  int64_t eocd = -1;
  for (int64_t i = static_cast<int64_t>(tail_n) - 22; i >= 0 && eocd < 0; --i)
    if (zip_u32(&tail[static_cast<size_t>(i)]) == 0x06054b50) eocd = i;
  if (eocd < 0) bad(path, "no end-of-central-directory record");
  const uint8_t* e = &tail[static_cast<size_t>(eocd)];
  const uint64_t eocd_pos = file_size - tail_n + static_cast<uint64_t>(eocd);
  uint64_t entries = zip_u16(e + 10), cd_size = zip_u32(e + 12), cd_offset = zip_u32(e + 16);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    // zip64: a 20-byte locator right before the end record points at the zip64 end record.
    if (eocd_pos < 20) bad(path, "zip64 locator missing");
    const auto loc = read_at(fd, eocd_pos - 20, 20, path);
    if (zip_u32(loc.data()) != 0x07064b50) bad(path, "zip64 locator missing");
    const uint64_t rec = zip_u64(loc.data() + 8);
    if (rec > file_size || file_size - rec < 56) bad(path, "zip64 end record outside the file");
    const auto z = read_at(fd, rec, 56, path);
    if (zip_u32(z.data()) != 0x06064b50) bad(path, "zip64 end record has a bad signature");
    entries = zip_u64(z.data() + 32);
    cd_size = zip_u64(z.data() + 40);
    cd_offset = zip_u64(z.data() + 48);
  }
  if (cd_offset > file_size || cd_size > file_size - cd_offset)
    bad(path, "the central directory (" + std::to_string(cd_size) + " bytes at " +
                  std::to_string(cd_offset) + ") lies outside the " + std::to_string(file_size) +
                  "-byte file");
  if (entries > cd_size / 46) bad(path, std::to_string(entries) + " entries cannot fit the directory");
  const auto cd = read_at(fd, cd_offset, cd_size, path);
  std::vector<ZipEntry> out;
  out.reserve(static_cast<size_t>(entries));
  uint64_t at = 0;
  for (uint64_t k = 0; k < entries; ++k) {
    if (cd_size - at < 46 || zip_u32(&cd[at]) != 0x02014b50)
      bad(path, "central directory entry " + std::to_string(k) + " is damaged");
    const uint8_t* h = &cd[at];
    const uint64_t name_n = zip_u16(h + 28), extra_n = zip_u16(h + 30), comment_n = zip_u16(h + 32);
    if (cd_size - at - 46 < name_n + extra_n + comment_n)
      bad(path, "central directory entry " + std::to_string(k) + " runs past the directory");
    ZipEntry z;
    z.name.assign(reinterpret_cast<const char*>(h + 46), name_n);
    z.method = zip_u16(h + 10);
    z.compressed = zip_u32(h + 20);
    z.uncompressed = zip_u32(h + 24);
    z.local_header = zip_u32(h + 42);
    // zip64 extra field (id 1): the 64-bit values of the fields set to 0xFFFFFFFF, in this order.
    for (uint64_t x = 0; x + 4 <= extra_n;) {
      const uint8_t* f = h + 46 + name_n + x;
      const uint64_t id = zip_u16(f), n = zip_u16(f + 2);
      if (x + 4 + n > extra_n) break;
      if (id == 1) {
        uint64_t p = 0;
        for (uint64_t* v : {&z.uncompressed, &z.compressed, &z.local_header}) {
          if (*v != 0xFFFFFFFF) continue;
          if (p + 8 > n) bad(path, "record '" + z.name + "' has a short zip64 field");
          *v = zip_u64(f + 4 + p);
          p += 8;
        }
      }
      x += 4 + n;
    }
    const std::string what = "record '" + z.name + "' ";
    if (z.local_header > file_size || file_size - z.local_header < 30 + name_n ||
        z.compressed > file_size - z.local_header - 30 - name_n)
      bad(path, what + "(" + std::to_string(z.compressed) + " bytes at " +
                    std::to_string(z.local_header) + ") lies outside the file");
    if (z.method == 0 && z.uncompressed != z.compressed)
      bad(path, what + "is stored (not compressed) but declares " +
                    std::to_string(z.uncompressed) + " bytes for " + std::to_string(z.compressed));
    if (z.method == 8 && z.uncompressed / kDeflateMaxRatio > z.compressed)
      bad(path, what + "declares " + std::to_string(z.uncompressed) + " bytes from " +
                    std::to_string(z.compressed) + " compressed ones (deflate expands at most " +
                    std::to_string(kDeflateMaxRatio) + ":1)");
    if (z.method != 0 && z.method != 8)
      bad(path, what + "uses compression method " + std::to_string(z.method) +
                    " (torch.save stores records; deflate is also read)");
    out.push_back(std::move(z));
    at += 46 + name_n + extra_n + comment_n;
  }
  return out;
}

}  // namespace ibllm::io

// CRC-32C (Castagnoli), as TFRecord framing requires, plus TensorFlow's masking of stored CRCs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ibllm::core {

uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
// TFRecord stores ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t n);

}  // namespace ibllm::core

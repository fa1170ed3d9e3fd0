// The one modality table (src/core/modality.h) and what derives from it: names round-trip, "image"
// means vision, video is encoded by the vision tower, the tower list is what ImageBind builds by
// default (the reference's order), and the dataset's path columns are the non-image, non-text
// inputs.
#include <set>

#include "models/imagebind/imagebind_config.h"
#include "src/core/error.h"
#include "src/core/modality.h"
#include "tests/support/catch.h"

using ibllm::core::Modality;

TEST_CASE("modality: one table, names round-trip, derived lists", "[modality]") {
  namespace core = ibllm::core;
  std::set<std::string> names;
  for (const auto& row : core::modality_table()) {
    CHECK(names.insert(row.name).second);  // each name once
    REQUIRE(core::find_modality(row.name).has_value());
    CHECK(*core::find_modality(row.name) == row.id);
    CHECK(core::modality_name(row.id) == row.name);
    CHECK(core::modality_name(row.tower) == core::modality_info(row.tower).name);
  }
  CHECK(names.size() == 8);
  CHECK(core::find_modality("image") == Modality::kVision);
  CHECK_FALSE(core::find_modality("colour").has_value());
  CHECK(core::modality_info(Modality::kVideo).tower == Modality::kVision);
  CHECK(core::tower_names() ==
        std::vector<std::string>{"vision", "text", "audio", "depth", "thermal", "imu", "point"});
  CHECK(ibllm::models::imagebind_huge_config().modalities == core::tower_names());
  CHECK(core::row_modality_names() ==
        std::vector<std::string>{"audio", "depth", "thermal", "imu", "point", "video"});
  CHECK(core::input_names().size() == 8);
}

TEST_CASE("modality: ImageBindConfig::modality maps names to tower configs", "[modality]") {
  auto c = ibllm::models::imagebind_huge_config();
  CHECK(&c.modality("video") == &c.vision);
  CHECK(&c.modality("image") == &c.vision);
  CHECK(&c.modality("thermal") == &c.thermal);
  CHECK(c.modality(Modality::kImu).embed_dim == 512);
  auto hint_of = [&](const std::string& name) {
    try {
      c.modality(name);
    } catch (const ibllm::ModelError& e) {
      return std::string(e.what()) + " | " + e.hint();
    }
    return std::string("no error");
  };
  CHECK(hint_of("point") == "no transformer config for modality 'point' | known: vision, text, "
                            "audio, depth, thermal, imu, point (point has its own PointConfig)");
  CHECK(hint_of("colour").find("modality 'colour' | known: vision, text") != std::string::npos);
}

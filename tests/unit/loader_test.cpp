// DataLoader on the bundled demo data (data/samples) with the real LLaMA tokenizer: batches are
// identical for 0/1/3 workers, resume from a cursor gives exactly the remaining batches, corrupt
// and missing images are skipped and counted with file:line (and abort past the limit), text-only
// policies, feature-cached batches, truncation counts, and fixed vs dynamic padding give the same
// loss.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

#include <chrono>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "data/dataset.h"
#include "data/feature_cache.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "src/config/document.h"
#include "src/core/error.h"
#include "tests/support/catch.h"  // last: glog (via ATen) also defines CHECK
#include "tests/support/paths.h"

using namespace ibllm::data;
namespace fs = std::filesystem;

namespace {

constexpr std::chrono::seconds kTimeout{60};  // no test can hang on a stuck worker

std::string samples(const std::string& f) {
  return (ibllm::test::source_dir() / "data/samples" / f).string();
}

DataConfig demo_config() {
  DataConfig c;
  c.sources = {SourceConfig{SourceKind::kCaptionTsv, samples("captions.tsv"), "", 1.0, ""},
               SourceConfig{SourceKind::kLlava, samples("instructions.json"), "", 1.0, ""},
               SourceConfig{SourceKind::kAlpaca, samples("alpaca.json"), "", 1.0, ""}};
  c.image.size = 32;
  c.batch_size = 3;
  c.max_words = 96;
  c.prefetch_batches = 2;
  return c;
}

std::vector<Batch> run_epoch(DataLoader& l, int64_t epoch, int64_t cursor = 0) {
  l.start_epoch(epoch, cursor);
  std::vector<Batch> out;
  while (auto b = l.next(kTimeout)) out.push_back(std::move(*b));
  return out;
}

void check_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].indices == b[i].indices);
    CHECK(a[i].tokens.equal(b[i].tokens));
    CHECK(a[i].labels.equal(b[i].labels));
    CHECK(a[i].images.equal(b[i].images));
    CHECK(a[i].has_visual.equal(b[i].has_visual));
    CHECK(a[i].cursor == b[i].cursor);
  }
}

// Mean cross-entropy over labels[:,1:] != ignore of a toy causal model whose logits at position t
// depend on tokens[0..t] only (a running sum of embeddings), like a decoder under a causal mask.
double toy_loss(const Batch& b) {
  const int64_t V = 97;
  auto g = at::make_generator<at::CPUGeneratorImpl>(5);
  at::Tensor emb = at::randn({V, V}, g, at::kDouble);
  at::Tensor h =
      emb.index_select(0, (b.tokens % V).flatten()).view({b.tokens.size(0), b.tokens.size(1), V});
  at::Tensor logits = h.cumsum(1).slice(1, 0, -1);
  at::Tensor labels = b.labels.slice(1, 1);
  at::Tensor mask = labels != b.ignore_index;
  at::Tensor target = at::where(mask, labels % V, at::zeros_like(labels));
  at::Tensor nll = -logits.log_softmax(-1).gather(-1, target.unsqueeze(-1)).squeeze(-1);
  return (nll * mask).sum().item<double>() / mask.sum().item<double>();
}

}  // namespace

TEST_CASE("worker count and prefetch depth do not change the batches", "[loader][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto tok = std::make_shared<const LlamaTokenizer>(model.string());
  DataConfig c = demo_config();
  auto ds = std::make_shared<const Dataset>(c);
  REQUIRE(ds->size() == 14);
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 3}) {
    c.num_workers = workers;
    c.prefetch_batches = workers == 3 ? 1 : 4;
    DataLoader l(c, ds, tok, LoaderOptions{1, 0, 7, true});
    runs.push_back(run_epoch(l, 2));
    CHECK(l.stats().skipped == 0);
  }
  REQUIRE(runs[0].size() == 4);  // 14 samples, batch 3, drop
  check_same(runs[0], runs[1]);
  check_same(runs[0], runs[2]);
  CHECK(runs[0][0].images.sizes() == at::IntArrayRef({3, 3, 32, 32}));
  CHECK(runs[0][0].tokens.size(1) <= 96);  // dynamic padding
  // another epoch reshuffles
  c.num_workers = 2;
  DataLoader l(c, ds, tok, LoaderOptions{1, 0, 7, true});
  auto e3 = run_epoch(l, 3);
  bool differs = false;
  for (size_t i = 0; i < e3.size(); ++i) differs = differs || e3[i].indices != runs[0][i].indices;
  CHECK(differs);
}

TEST_CASE("resume from a saved cursor yields exactly the remaining batches", "[loader][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto tok = std::make_shared<const LlamaTokenizer>(model.string());
  DataConfig c = demo_config();
  c.num_workers = 2;
  c.last_batch = LastBatch::kPartial;
  auto ds = std::make_shared<const Dataset>(c);
  DataLoader l(c, ds, tok, LoaderOptions{1, 0, 3, true});
  auto full = run_epoch(l, 1);
  REQUIRE(full.size() == 5);  // 14 = 3+3+3+3+2
  CHECK(full.back().size() == 2);
  CHECK(full.back().cursor == 14);
  auto rest = run_epoch(l, 1, full[1].cursor);
  check_same(std::vector<Batch>(full.begin() + 2, full.end()), rest);
}

TEST_CASE("corrupt and missing images are skipped, counted and located; too many abort",
          "[loader][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto tok = std::make_shared<const LlamaTokenizer>(model.string());
  auto dir = ibllm::test::scratch_dir("loader_corrupt");
  fs::create_directories(dir / "images");
  for (const char* f : {"red_square.png", "blue_circle.png", "green_triangle.png"})
    fs::copy_file(samples(std::string("images/") + f), dir / "images" / f);
  std::ofstream(dir / "images/corrupt.png", std::ios::binary)
      << "\x89PNG\r\n\x1a\n garbage that is not an image";
  std::ofstream(dir / "caps.tsv")
      << "url\tcaption\nimages/red_square.png\tred\nimages/corrupt.png\tbroken\n"
         "images/blue_circle.png\tblue\nimages/missing.png\tgone\n"
         "images/green_triangle.png\tgreen\n";
  DataConfig c = demo_config();
  c.sources = {SourceConfig{SourceKind::kCaptionTsv, (dir / "caps.tsv").string(), "", 1.0, ""}};
  c.num_workers = 2;
  c.batch_size = 5;
  c.skip_grace = 2;
  auto ds = std::make_shared<const Dataset>(c);
  DataLoader l(c, ds, tok, LoaderOptions{1, 0, 0, true});
  auto batches = run_epoch(l, 0);
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].size() == 3);
  CHECK(batches[0].skipped == 2);
  auto st = l.stats();
  CHECK(st.seen == 5);
  CHECK(st.skipped == 2);
  REQUIRE(st.first_skips.size() == 2);
  std::string all = st.first_skips[0] + st.first_skips[1];
  CHECK(all.find("caps.tsv:3") != std::string::npos);
  CHECK(all.find("caps.tsv:5") != std::string::npos);
  CHECK(all.find("missing.png") != std::string::npos);

  c.skip_grace = 1;
  DataLoader strict(c, ds, tok, LoaderOptions{1, 0, 0, true});
  strict.start_epoch(0);
  try {
    strict.next(kTimeout);
    FAIL("expected the skip limit to abort");
  } catch (const ibllm::DataError& e) {
    CHECK(std::string(e.what()).find("too many bad samples: 2 of 5") != std::string::npos);
  }
}

// Bad samples in every batch while two workers build batches at once: the shared skip record
// (count, first locations, log) is written from both threads. The functional check is exact counts
// and the same batches as the synchronous loader; the ThreadSanitizer build (tests/sanitizers/run.sh
// thread -R loader) checks the locking itself.
TEST_CASE("bad samples on two concurrent workers are all counted and located", "[loader][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto tok = std::make_shared<const LlamaTokenizer>(model.string());
  auto dir = ibllm::test::scratch_dir("loader_corrupt_concurrent");
  fs::create_directories(dir / "images");
  const char* good[] = {"red_square.png", "blue_circle.png", "green_triangle.png"};
  for (const char* f : good) fs::copy_file(samples(std::string("images/") + f), dir / "images" / f);
  std::ofstream(dir / "images/corrupt.png", std::ios::binary)
      << "\x89PNG\r\n\x1a\n garbage that is not an image";
  // 24 rows: even rows good, odd rows corrupt or missing; batch 2 puts one bad sample in every
  // batch (no shuffle), so both workers skip samples throughout the epoch.
  std::ofstream tsv(dir / "caps.tsv");
  tsv << "url\tcaption\n";
  std::vector<std::string> bad_lines;
  for (int i = 0; i < 24; ++i) {
    if (i % 2 == 0) {
      tsv << "images/" << good[(i / 2) % 3] << "\tgood " << i << "\n";
    } else {
      const std::string bad = i % 4 == 1 ? std::string("images/corrupt.png")
                                         : "images/missing_" + std::to_string(i) + ".png";
      tsv << bad << "\tbad " << i << "\n";
      bad_lines.push_back("caps.tsv:" + std::to_string(i + 2));  // line 1 is the header
    }
  }
  tsv.close();
  DataConfig c = demo_config();
  c.sources = {SourceConfig{SourceKind::kCaptionTsv, (dir / "caps.tsv").string(), "", 1.0, ""}};
  c.batch_size = 2;
  c.skip_grace = 1000;
  c.log_skips = 1000;
  c.prefetch_batches = 4;
  auto ds = std::make_shared<const Dataset>(c);
  c.num_workers = 0;
  DataLoader sync(c, ds, tok, LoaderOptions{1, 0, 0, false});
  const auto expected = run_epoch(sync, 0);
  REQUIRE(expected.size() == 12);
  c.num_workers = 2;
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    DataLoader l(c, ds, tok, LoaderOptions{1, 0, 0, false});
    const auto batches = run_epoch(l, 0);
    check_same(expected, batches);
    for (const auto& b : batches) CHECK(b.skipped == 1);
    const auto st = l.stats();
    CHECK(st.seen == 24);
    CHECK(st.skipped == 12);
    REQUIRE(st.first_skips.size() == 12);
    std::string all;
    for (const auto& s : st.first_skips) all += s + "\n";
    for (const auto& line : bad_lines) CHECK(all.find(line + ":") != std::string::npos);
  }
}

TEST_CASE("text-only samples: zero image (reference) or no visual", "[loader][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto tok = std::make_shared<const LlamaTokenizer>(model.string());
  DataConfig c = demo_config();
  c.sources = {SourceConfig{SourceKind::kAlpaca, samples("alpaca.json"), "", 1.0, ""}};
  c.batch_size = 4;
  auto ds = std::make_shared<const Dataset>(c);
  DataLoader ref(c, ds, tok, LoaderOptions{});
  auto b = run_epoch(ref, 0);
  REQUIRE(b.size() == 1);
  CHECK(b[0].has_visual.all().item<bool>());
  CHECK(b[0].images.abs().sum().item<double>() == 0.0);
  c.text_only = TextOnlyMode::kNoVisual;
  DataLoader nv(c, ds, tok, LoaderOptions{});
  auto n = run_epoch(nv, 0);
  CHECK(!n[0].has_visual.any().item<bool>());
  CHECK(n[0].tokens.equal(b[0].tokens));
}

TEST_CASE("feature-cached batches carry the cached embeddings", "[loader][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto tok = std::make_shared<const LlamaTokenizer>(model.string());
  auto dir = ibllm::test::scratch_dir("loader_features");
  std::vector<std::string> keys = {"images/red_square.png",
                                   "images/blue_circle.png",
                                   "images/green_triangle.png",
                                   "images/yellow_square.png",
                                   "images/purple_circle.png",
                                   "images/orange_triangle.png",
                                   ""};
  at::Tensor emb = at::arange(7 * 5, at::kFloat).view({7, 5});
  write_feature_cache((dir / "f.safetensors").string(), keys, emb);
  DataConfig c = demo_config();
  c.sources = {SourceConfig{SourceKind::kCaptionTsv, samples("captions.tsv"), "", 1.0,
                            (dir / "f.safetensors").string()}};
  c.batch_size = 6;
  c.num_workers = 1;
  auto ds = std::make_shared<const Dataset>(c);
  DataLoader l(c, ds, tok, LoaderOptions{});
  auto b = run_epoch(l, 0);
  REQUIRE(b.size() == 1);
  CHECK(!b[0].images.defined());
  REQUIRE(b[0].features.sizes() == at::IntArrayRef({6, 5}));
  for (int64_t i = 0; i < 6; ++i) CHECK(b[0].features[i].equal(emb[b[0].indices[i]]));
}

TEST_CASE("truncations are counted; fixed and dynamic padding give the same loss", "[loader][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto tok = std::make_shared<const LlamaTokenizer>(model.string());
  for (MaskMode mode : {MaskMode::kReference, MaskMode::kExact}) {
    DataConfig c = demo_config();
    c.mask = mode;
    c.max_words = 80;
    c.batch_size = 14;
    c.augment = false;
    auto ds = std::make_shared<const Dataset>(c);
    c.padding = PaddingMode::kFixed;
    DataLoader fixed(c, ds, tok, LoaderOptions{1, 0, 1, true});
    c.padding = PaddingMode::kDynamic;
    DataLoader dynamic(c, ds, tok, LoaderOptions{1, 0, 1, true});
    auto bf = run_epoch(fixed, 0), bd = run_epoch(dynamic, 0);
    REQUIRE(bf.size() == 1);
    CHECK(bf[0].tokens.size(1) == 80);
    CHECK(bd[0].tokens.size(1) < 80);
    CHECK(bf[0].valid_label_tokens == bd[0].valid_label_tokens);
    CHECK(bf[0].valid_label_tokens > 0);
    CHECK(toy_loss(bf[0]) == Approx(toy_loss(bd[0])).epsilon(1e-12));
    CHECK(fixed.stats().truncated == 0);

    c.max_words = 48;  // the prompt alone is ~40 tokens: every answer gets cut
    DataLoader cut(c, ds, tok, LoaderOptions{1, 0, 1, true});
    auto bc = run_epoch(cut, 0);
    CHECK(cut.stats().truncated == bc[0].truncated);
    CHECK(bc[0].truncated >= 4);
  }
}

TEST_CASE("a stalled read times out with a DataError instead of hanging", "[loader][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto tok = std::make_shared<const LlamaTokenizer>(model.string());
  auto dir = ibllm::test::scratch_dir("loader_stall");
  const std::string fifo = (dir / "stuck.png").string();
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);  // opening it for reading blocks until a writer comes
  std::ofstream(dir / "caps.tsv") << "url\tcaption\nstuck.png\tnever arrives\n";
  DataConfig c = demo_config();
  c.sources = {SourceConfig{SourceKind::kCaptionTsv, (dir / "caps.tsv").string(), "", 1.0, ""}};
  c.num_workers = 1;
  c.batch_size = 1;
  auto ds = std::make_shared<const Dataset>(c);
  DataLoader l(c, ds, tok, LoaderOptions{});
  l.start_epoch(0);
  std::string msg;
  try {
    l.next(std::chrono::milliseconds(300));
  } catch (const ibllm::DataError& e) {
    msg = e.what();
  }
  CHECK(msg.find("stalled") != std::string::npos);
  // Release the worker: a writer that closes at once gives the reader an empty file -> skipped.
  int fd = -1;
  for (int i = 0; i < 200 && fd < 0; ++i) {
    fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(fd >= 0);
  close(fd);
  auto b = l.next(kTimeout);
  REQUIRE(b.has_value());
  CHECK(b->size() == 0);
  CHECK(b->skipped == 1);
  CHECK(!l.next(kTimeout).has_value());
}

TEST_CASE("the bundled demo data loads from a YAML data section", "[loader][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  const std::string root = ibllm::test::source_dir().string();
  auto doc =
      ibllm::config::Document::from_string("data:\n  tokenizer: " + model.string() +
                                           "\n  sources:\n"
                                           "    - {kind: caption_tsv, path: " +
                                           root +
                                           "/data/samples/captions.tsv}\n"
                                           "    - {kind: llava, path: " +
                                           root +
                                           "/data/samples/instructions.json}\n"
                                           "    - {kind: alpaca, path: " +
                                           root +
                                           "/data/samples/alpaca.json, weight: 0.5}\n"
                                           "  batch_size: 2\n  num_workers: 1\n  llava_turns: all\n"
                                           "  image: {size: 48}\n");
  DataConfig c = parse_data_config(doc.root().child("data"));
  doc.finish();
  auto tok = std::make_shared<const LlamaTokenizer>(c.tokenizer);
  auto ds = std::make_shared<const Dataset>(c, 0);
  CHECK(ds->size() == 6 + 4 + 2);
  CHECK(ds->record(6).turns.size() == 2);  // the multi-turn LLaVA row
  DataLoader l(c, ds, tok, LoaderOptions{1, 0, 0, true});
  auto batches = run_epoch(l, 0);
  REQUIRE(batches.size() == 6);
  int64_t supervised_eos = 0;
  for (const auto& b : batches) {
    CHECK(b.images.sizes() == at::IntArrayRef({2, 3, 48, 48}));
    supervised_eos += (b.labels == tok->eos_id()).sum().item<int64_t>();
  }
  CHECK(supervised_eos == 12 + 1);  // one EOS per answer; the two-turn row has two
  CHECK(l.stats().skipped == 0);
}

TEST_CASE("evaluation loaders keep file order and use the centre crop", "[loader][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto tok = std::make_shared<const LlamaTokenizer>(model.string());
  DataConfig c = demo_config();
  c.sources.resize(1);  // captions.tsv
  c.batch_size = 6;
  c.num_workers = 1;
  auto ds = std::make_shared<const Dataset>(c);
  DataLoader l(c, ds, tok, LoaderOptions{1, 0, 9, /*train=*/false});
  auto b = run_epoch(l, 4);
  REQUIRE(b.size() == 1);
  CHECK(b[0].indices == std::vector<int64_t>{0, 1, 2, 3, 4, 5});
  ImageTransform t(c.image);
  for (int64_t i = 0; i < 6; ++i) CHECK(b[0].images[i].equal(t.eval(ds->record(i).image)));
}

TEST_CASE("batches are pinned when CUDA is present", "[loader][cuda]") {
  if (!at::hasCUDA()) IBLLM_SKIP("no CUDA device");
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto tok = std::make_shared<const LlamaTokenizer>(model.string());
  DataConfig c = demo_config();
  c.num_workers = 2;
  auto ds = std::make_shared<const Dataset>(c);
  DataLoader l(c, ds, tok, LoaderOptions{});
  auto b = run_epoch(l, 0);
  REQUIRE(!b.empty());
  CHECK(b[0].tokens.is_pinned());
  CHECK(b[0].labels.is_pinned());
  CHECK(b[0].images.is_pinned());
}

TEST_CASE("pinning is off for a CPU run and harmless where CUDA is missing", "[loader][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto tok = std::make_shared<const LlamaTokenizer>(model.string());
  DataConfig c = demo_config();
  c.num_workers = 2;
  auto ds = std::make_shared<const Dataset>(c);
  LoaderOptions cpu_run{1, 0, 7, true};
  DataLoader plain(c, ds, tok, cpu_run);
  CHECK_FALSE(plain.pinned());  // a CPU run never pins, even with data.pin_memory: true
  LoaderOptions cuda_run = cpu_run;
  cuda_run.device_is_cuda = true;
  DataLoader asked(c, ds, tok, cuda_run);
  CHECK(asked.pinned() == at::hasCUDA());  // no usable CUDA: nothing to pin for
  auto a = run_epoch(plain, 1), b = run_epoch(asked, 1);
  check_same(a, b);
  for (const auto& x : b) CHECK(x.tokens.is_pinned() == at::hasCUDA());
  // batch_on to the CPU returns the very tensors (no copy, no change)
  auto on = batch_on(a[0], at::Device(at::kCPU));
  CHECK(on.tokens.data_ptr() == a[0].tokens.data_ptr());
  CHECK(on.images.data_ptr() == a[0].images.data_ptr());
}

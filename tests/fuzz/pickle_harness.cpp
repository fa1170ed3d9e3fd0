// Fuzz harness: one pickle (a torch.save data.pkl) straight into the unpickler, without the zip
// around it so mutations reach the opcodes. Persistent ids become storages the way PthFile makes
// them; the result is then walked and rendered the way `ibllm inspect` does.
#include "src/io/pickle.h"
#include "src/io/pth_reader.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/harnesses.h"

namespace ibllm::fuzz {
namespace {

using Kind = io::PickleValue::Kind;

io::PickleRef storage_for(const io::PickleRef& pid) {
  if (pid->kind != Kind::kTuple || pid->items.size() < 5 || pid->items[1]->kind != Kind::kGlobal ||
      pid->items[2]->kind != Kind::kString || pid->items[4]->kind != Kind::kInt) {
    throw IoError("fuzz.pkl: unsupported persistent id " + pid->repr());
  }
  auto s = std::make_shared<io::StorageRef>();
  s->dtype = io::storage_dtype(pid->items[1]->str);
  s->key = pid->items[2]->str;
  s->numel = pid->items[4]->i;
  auto v = io::PickleValue::make(Kind::kStorage);
  v->storage = s;
  return v;
}

}  // namespace

int pickle_one_input(const uint8_t* data, size_t size) {
  return expect_ibllm_errors([&] {
    io::UnpicklerHooks hooks;
    hooks.persistent_load = storage_for;
    hooks.warn = [](const std::string&) {};
    const io::PickleRef root = io::unpickle(data, size, hooks, "fuzz.pkl");
    size_t rendered = 0;
    io::walk_pickle(
        *root, "",
        [&](const std::string& name, const io::TensorRef& t) { rendered += name.size() + t.nbytes(); },
        [&](const std::string& name, const io::PickleValue& v) {
          rendered += name.size() + v.repr().size() + v.kind_name().size();
        });
    require(root->repr().size() <= 120, "repr longer than its limit");
  });
}

}  // namespace ibllm::fuzz

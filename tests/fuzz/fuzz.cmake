# IBLLM_FUZZ=ON: the libFuzzer build, included by CMakeLists.txt instead of the normal targets
# (nothing else is built in such a build directory). Only the parsers the harnesses reach are
# compiled, with -fsanitize=fuzzer-no-link,address,undefined; LibTorch, yaml-cpp, zlib, libsndfile
# and the SentencePiece plugin stay uninstrumented. One executable per harness
# (fuzz_<harness>, tests/fuzz/harnesses.h); tests/fuzz/run.sh configures, builds and runs them.

# The parsers and what they link; kept explicit so the fuzz build compiles ~40 files, not 110.
set(IBLLM_FUZZ_LIB_SOURCES
  src/core/crc32c.cpp src/core/logging.cpp src/core/modality.cpp src/core/strings.cpp
  src/config/document.cpp
  src/io/mapped_file.cpp src/io/safetensors.cpp src/io/pickle.cpp src/io/pickle_numpy.cpp
  src/io/pickle_value.cpp src/io/pth_reader.cpp src/io/zip_directory.cpp src/io/embedding_file.cpp src/io/state_dict.cpp
  data/data_config.cpp data/data_file.cpp data/dataset.cpp data/feature_cache.cpp
  data/json_records.cpp data/tsv_reader.cpp data/image_transform.cpp data/image_decode.cpp
  data/image_resize.cpp data/tokenizer.cpp data/sentencepiece_library.cpp data/clip_tokenizer.cpp
  data/transforms/npy.cpp data/transforms/point_cloud.cpp data/transforms/audio.cpp
  models/imagebind_llm_config.cpp models/llama/config.cpp models/imagebind/imagebind_config.cpp
  models/bind/bind_config.cpp models/cache/visual_cache_config.cpp models/trainable.cpp
  src/checkpoint/checkpoint_config.cpp src/distributed/dist_config.cpp
  trainers/run_config.cpp trainers/lr_schedule.cpp trainers/optim_config.cpp
  trainers/trainer_config.cpp)
list(TRANSFORM IBLLM_FUZZ_LIB_SOURCES PREPEND ${CMAKE_SOURCE_DIR}/)

file(GLOB IBLLM_FUZZ_HARNESS_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/*_harness.cpp)
list(APPEND IBLLM_FUZZ_HARNESS_SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_support.cpp
            ${CMAKE_SOURCE_DIR}/tests/fuzz/harnesses.cpp)

# Line tables for readable reports; UB aborts (a report is a crash libFuzzer keeps); vptr off for
# the same reason as IBLLM_SANITIZE (LibTorch's classes come from uninstrumented libraries).
set(IBLLM_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=undefined
    -fno-sanitize=vptr -fno-omit-frame-pointer -gline-tables-only)

add_library(ibllm_fuzz_lib STATIC ${IBLLM_FUZZ_LIB_SOURCES} ${IBLLM_FUZZ_HARNESS_SOURCES})
target_compile_options(ibllm_fuzz_lib PRIVATE ${IBLLM_WARNINGS} -fsanitize=fuzzer-no-link
                       ${IBLLM_FUZZ_SANITIZERS})
target_include_directories(ibllm_fuzz_lib BEFORE PUBLIC ${IBLLM_FMT_FIRST_DIR})
target_include_directories(ibllm_fuzz_lib PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(ibllm_fuzz_lib PUBLIC ${TORCH_LIBRARIES} ${IBLLM_YAML_TARGET} spdlog::spdlog
                      fmt::fmt nlohmann_json::nlohmann_json ZLIB::ZLIB Threads::Threads
                      ${CMAKE_DL_LIBS})
target_compile_definitions(ibllm_fuzz_lib PUBLIC
  IBLLM_WITH_CUDA=$<BOOL:${IBLLM_WITH_CUDA}>
  IBLLM_WITH_NCCL=0 IBLLM_WITH_GLOO=0 IBLLM_WITH_OPENCV=0
  IBLLM_WITH_SNDFILE=$<BOOL:${IBLLM_SNDFILE_FOUND}>
  IBLLM_BUILD_TYPE="${CMAKE_BUILD_TYPE}"
  PRIVATE IBLLM_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
if(IBLLM_SNDFILE_FOUND)
  target_link_libraries(ibllm_fuzz_lib PUBLIC PkgConfig::SNDFILE)
endif()
if(IBLLM_USE_PCH)
  target_precompile_headers(ibllm_fuzz_lib PRIVATE ${CMAKE_SOURCE_DIR}/src/core/pch.h)
  ibllm_mark_torch_free(${IBLLM_FUZZ_LIB_SOURCES} ${IBLLM_FUZZ_HARNESS_SOURCES})
endif()

# The SentencePiece plugin, uninstrumented (it is libsentencepiece's code, not ours).
add_library(ibllm_sentencepiece MODULE ${CMAKE_SOURCE_DIR}/data/sentencepiece_shim/spm_shim.cpp)
target_link_libraries(ibllm_sentencepiece PRIVATE PkgConfig::SENTENCEPIECE)
target_link_options(ibllm_sentencepiece PRIVATE -Wl,--no-undefined)
set_target_properties(ibllm_sentencepiece PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_dependencies(ibllm_fuzz_lib ibllm_sentencepiece)
set_source_files_properties(${CMAKE_SOURCE_DIR}/data/sentencepiece_library.cpp PROPERTIES
  COMPILE_DEFINITIONS "IBLLM_SENTENCEPIECE_PLUGIN=\"$<TARGET_FILE:ibllm_sentencepiece>\"")

set(IBLLM_FUZZ_HARNESSES safetensors pth pickle config tsv json_records sentencepiece clip_text
    clip_vocab npy point_cloud audio)
foreach(_h ${IBLLM_FUZZ_HARNESSES})
  add_executable(fuzz_${_h} ${CMAKE_SOURCE_DIR}/tests/fuzz/libfuzzer_main.cpp)
  target_compile_definitions(fuzz_${_h} PRIVATE IBLLM_FUZZ_TARGET=${_h}_one_input)
  target_compile_options(fuzz_${_h} PRIVATE -fsanitize=fuzzer ${IBLLM_FUZZ_SANITIZERS})
  target_link_options(fuzz_${_h} PRIVATE -fsanitize=fuzzer ${IBLLM_FUZZ_SANITIZERS}
                      ${IBLLM_EXE_LINK_OPTIONS})
  target_link_libraries(fuzz_${_h} PRIVATE ibllm_fuzz_lib)
endforeach()

message(STATUS "ibllm: IBLLM_FUZZ build (libFuzzer harnesses only): ${IBLLM_FUZZ_HARNESSES}")

# Finds LibTorch 2.x as the PyTorch pip wheel ships it, checks its version, and sets up what a
# wheel needs that find_package(Torch) does not do: the CUDA toolkit check with a clear message,
# sm_90 as the CUDA arch, nccl.h from the wheel's nvidia-nccl package, and an RPATH to the wheel's
# torch/lib and nvidia/*/lib folders so the binaries run without LD_LIBRARY_PATH. docs/gpu.md.
#
# Where Torch comes from, first match wins:
#   1. -DTorch_DIR=... or a CMAKE_PREFIX_PATH that holds it (a LibTorch zip, another venv),
#   2. the project's virtual environment IBLLM_VENV (default <repo>/.venv, made by
#      launch/install_deps.sh),
#   3. the torch of `python3` (the GPU machine: torch.utils.cmake_prefix_path).
# Sets IBLLM_WITH_CUDA, IBLLM_WITH_NCCL, IBLLM_NCCL_HEADER_DIR, IBLLM_TORCH_RPATH, TORCH_LIBRARIES.

set(IBLLM_TORCH_MIN 2.11)   # the GPU machine's torch
set(IBLLM_TORCH_MAX 2.15)   # the pinned torch of launch/install_deps.sh; newer minors are untested
set(IBLLM_VENV "${CMAKE_SOURCE_DIR}/.venv" CACHE PATH "Virtual environment holding the torch wheel")
set(IBLLM_INSTALL_HINT "run launch/install_deps.sh (pins torch ${IBLLM_TORCH_MAX}.x into .venv/), "
                       "or pass -DTorch_DIR=<site-packages>/torch/share/cmake/Torch")
string(REPLACE ";" "" IBLLM_INSTALL_HINT "${IBLLM_INSTALL_HINT}")

if(NOT Torch_DIR)
  find_path(_ibllm_user_torch TorchConfig.cmake PATH_SUFFIXES share/cmake/Torch NO_DEFAULT_PATH
            PATHS ${CMAKE_PREFIX_PATH})
  if(_ibllm_user_torch)
    set(Torch_DIR "${_ibllm_user_torch}" CACHE PATH "" FORCE)
  endif()
  unset(_ibllm_user_torch CACHE)
endif()
if(NOT Torch_DIR)
  file(GLOB _venv_torch "${IBLLM_VENV}/lib/python3*/site-packages/torch/share/cmake/Torch")
  if(_venv_torch)
    list(GET _venv_torch 0 _venv_torch)
    set(Torch_DIR "${_venv_torch}" CACHE PATH "Directory holding TorchConfig.cmake" FORCE)
  endif()
endif()
if(NOT Torch_DIR)
  find_program(IBLLM_PYTHON3 python3)
  if(IBLLM_PYTHON3)
    execute_process(COMMAND ${IBLLM_PYTHON3} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                    OUTPUT_VARIABLE _py_prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                    RESULT_VARIABLE _py_rc)
    if(_py_rc EQUAL 0 AND EXISTS "${_py_prefix}/Torch/TorchConfig.cmake")
      set(Torch_DIR "${_py_prefix}/Torch" CACHE PATH "Directory holding TorchConfig.cmake" FORCE)
    endif()
  endif()
endif()
if(NOT Torch_DIR OR NOT EXISTS "${Torch_DIR}/TorchConfigVersion.cmake")
  message(FATAL_ERROR "ibllm: LibTorch not found (looked in Torch_DIR, CMAKE_PREFIX_PATH, "
                      "${IBLLM_VENV} and python3's torch). Supported: torch ${IBLLM_TORCH_MIN} to "
                      "${IBLLM_TORCH_MAX}.x; ${IBLLM_INSTALL_HINT}.")
endif()

# The version, before find_package(Torch), whose CUDA set-up fails first on a wrong install.
file(STRINGS "${Torch_DIR}/TorchConfigVersion.cmake" _ver REGEX "set\\(PACKAGE_VERSION \"")
string(REGEX MATCH "[0-9]+\\.[0-9]+(\\.[0-9]+)?" IBLLM_TORCH_VERSION "${_ver}")
string(REGEX MATCH "^[0-9]+\\.[0-9]+" _ver_mm "${IBLLM_TORCH_VERSION}")
if(NOT _ver_mm OR _ver_mm VERSION_LESS IBLLM_TORCH_MIN OR _ver_mm VERSION_GREATER IBLLM_TORCH_MAX)
  message(FATAL_ERROR "ibllm: found torch '${IBLLM_TORCH_VERSION}' at ${Torch_DIR}; supported: "
                      "${IBLLM_TORCH_MIN} to ${IBLLM_TORCH_MAX}.x. ${IBLLM_INSTALL_HINT}.")
endif()
get_filename_component(IBLLM_TORCH_ROOT "${Torch_DIR}/../../.." ABSOLUTE)   # .../site-packages/torch

# A CUDA build of torch needs the CUDA toolkit (nvcc) at configure time: its CMake config reads the
# toolkit's version and headers. Without it, say what to install instead of Caffe2's own error.
set(_torch_is_cuda OFF)
if(EXISTS "${IBLLM_TORCH_ROOT}/lib/libtorch_cuda.so")
  set(_torch_is_cuda ON)
endif()
if(_torch_is_cuda)
  find_program(IBLLM_NVCC nvcc HINTS ${CUDAToolkit_ROOT} ENV CUDA_HOME PATH_SUFFIXES bin
               PATHS /usr/local/cuda/bin)
  if(NOT IBLLM_NVCC)
    message(FATAL_ERROR "ibllm: torch ${IBLLM_TORCH_VERSION} at ${IBLLM_TORCH_ROOT} is a CUDA build, "
                        "and configuring against it needs the CUDA toolkit (nvcc, 12.6 or newer), "
                        "which was not found. Install it (NVIDIA's cuda-toolkit packages; nvcc on "
                        "PATH or -DCUDAToolkit_ROOT=<dir>), or point -DTorch_DIR at a CPU-only "
                        "LibTorch. No GPU or driver is needed to build.")
  endif()
  get_filename_component(_nvcc_bin "${IBLLM_NVCC}" DIRECTORY)
  get_filename_component(_cuda_root "${_nvcc_bin}" DIRECTORY)
  if(NOT CUDAToolkit_ROOT)
    set(CUDAToolkit_ROOT "${_cuda_root}")
  endif()
  if(NOT CUDA_TOOLKIT_ROOT_DIR)
    set(CUDA_TOOLKIT_ROOT_DIR "${_cuda_root}")
  endif()
  # H100 / H200. Only affects CUDA sources (ibllm has none); set so the wheel's config does not
  # probe a GPU that is not there.
  if(NOT TORCH_CUDA_ARCH_LIST)
    set(TORCH_CUDA_ARCH_LIST "9.0" CACHE STRING "CUDA architectures (H100/H200: 9.0)")
  endif()
endif()

find_package(Torch REQUIRED CONFIG)

# CUDA / NCCL come from the Torch build, never from a separate option.
set(IBLLM_WITH_CUDA OFF)
if(TORCH_CUDA_LIBRARIES OR TARGET torch_cuda)
  set(IBLLM_WITH_CUDA ON)
endif()

# The wheel's site-packages/nvidia/<pkg>/ folders (cu13, cudnn, nccl, cusparselt, nvshmem, ...).
get_filename_component(_site "${IBLLM_TORCH_ROOT}/.." ABSOLUTE)
file(GLOB IBLLM_WHEEL_NVIDIA_LIBS LIST_DIRECTORIES true "${_site}/nvidia/*/lib")

set(IBLLM_NCCL_INCLUDE_DIR "" CACHE PATH "Directory holding nccl.h (default: the wheel's nvidia-nccl)")
set(IBLLM_WITH_NCCL OFF)
if(IBLLM_WITH_CUDA)
  # The wheel's nccl.h matches the libnccl torch was built and runs with; the toolkit's may be older.
  find_path(IBLLM_NCCL_HEADER_DIR nccl.h NO_DEFAULT_PATH
            PATHS ${IBLLM_NCCL_INCLUDE_DIR} "${_site}/nvidia/nccl/include" "${CUDAToolkit_ROOT}/include")
  if(IBLLM_NCCL_HEADER_DIR)
    set(IBLLM_WITH_NCCL ON)
  else()
    message(WARNING "ibllm: nccl.h not found (wheel: ${_site}/nvidia/nccl/include); building without "
                    "the NCCL backend. Set -DIBLLM_NCCL_INCLUDE_DIR=<dir with nccl.h>.")
  endif()
endif()

# RPATH: the binaries find the wheel's libraries without LD_LIBRARY_PATH. Only these folders, in
# this order: a CUDA library directory of the toolkit in the RPATH would load the toolkit's
# libcudart/cuBLAS (older than the wheel's) under the wheel's torch — measured to corrupt the heap
# at exit (docs/gpu.md). The toolkit is for configuring and headers only.
set(IBLLM_TORCH_RPATH "${IBLLM_TORCH_ROOT}/lib" ${IBLLM_WHEEL_NVIDIA_LIBS})
set(CMAKE_BUILD_WITH_INSTALL_RPATH ON)
set(CMAKE_INSTALL_RPATH "${IBLLM_TORCH_RPATH}")
set(CMAKE_INSTALL_RPATH_USE_LINK_PATH OFF)
# Old-style DT_RPATH (not RUNPATH): it also applies to the libraries torch loads itself.
set(IBLLM_EXE_LINK_OPTIONS -Wl,--as-needed -Wl,--disable-new-dtags)

message(STATUS "ibllm: torch ${IBLLM_TORCH_VERSION} from ${IBLLM_TORCH_ROOT}")

# Cross build for 64-bit ARM panels (Debian arm64: AArch64) with Debian's cross compiler and
# multiarch -dev packages (dpkg --add-architecture arm64; .ci/cross installs them).
# Tests run under qemu-user: CTest prefixes every test with the emulator below.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(HEMS_CROSS_TRIPLET aarch64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)

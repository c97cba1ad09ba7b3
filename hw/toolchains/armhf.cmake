# Cross build for 32-bit ARM panels (Debian armhf: ARMv7, hard float) with Debian's cross
# compiler and multiarch -dev packages (dpkg --add-architecture armhf; .ci/cross installs them).
# Tests run under qemu-user: CTest prefixes every test with the emulator below.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(HEMS_CROSS_TRIPLET arm-linux-gnueabihf)
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm)

# Shared by the toolchain files: Debian's multiarch layout keeps the target's libraries in
# /usr/lib/<triplet> and its pkg-config files in /usr/lib/<triplet>/pkgconfig, so the root is /
# and only pkg-config must be pointed at the target's files (never the build machine's).
set(CMAKE_C_COMPILER ${HEMS_CROSS_TRIPLET}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${HEMS_CROSS_TRIPLET})
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${HEMS_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

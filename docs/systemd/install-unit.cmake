# Run by `cmake --install` (install(SCRIPT) in the top CMakeLists.txt): writes hems.service
# from hems.service.in with ExecStart under the prefix of *this* install, so
# `cmake --install build --prefix /usr` gives ExecStart=/usr/bin/hems whatever prefix the build
# was configured with. Set before it (install(CODE)): HEMS_UNIT_IN, HEMS_UNIT_OUT, HEMS_BINDIR
# (CMAKE_INSTALL_BINDIR) and HEMS_UNITDIR (relative to the prefix, or absolute).
if(IS_ABSOLUTE "${HEMS_BINDIR}")
  set(CMAKE_INSTALL_FULL_BINDIR "${HEMS_BINDIR}")
else()
  set(CMAKE_INSTALL_FULL_BINDIR "${CMAKE_INSTALL_PREFIX}/${HEMS_BINDIR}")
endif()
if(IS_ABSOLUTE "${HEMS_UNITDIR}")
  set(_hems_unitdir "${HEMS_UNITDIR}")
else()
  set(_hems_unitdir "${CMAKE_INSTALL_PREFIX}/${HEMS_UNITDIR}")
endif()
configure_file("${HEMS_UNIT_IN}" "${HEMS_UNIT_OUT}" @ONLY)
file(INSTALL DESTINATION "${_hems_unitdir}" TYPE FILE FILES "${HEMS_UNIT_OUT}")

# Run by `cmake --install` (install(SCRIPT) in the top CMakeLists.txt): writes hems.service
# from hems.service.in with ExecStart under the prefix of *this* install, so
# `cmake --install build --prefix /usr` gives ExecStart=/usr/bin/hems whatever prefix the build
# was configured with. Set before it (install(CODE)): HEMS_UNIT_IN, HEMS_UNIT_OUT, HEMS_BINDIR
# (CMAKE_INSTALL_BINDIR) and HEMS_UNITDIR (relative to the prefix, or absolute); and for the TPM
# counter's drop-in (hems-tpm.conf.in, installed as an example, not enabled) HEMS_TPM_DROPIN_IN,
# HEMS_TPM_DROPIN_OUT and HEMS_DOCDIR (relative to the prefix).
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
if(HEMS_TPM_DROPIN_IN)
  configure_file("${HEMS_TPM_DROPIN_IN}" "${HEMS_TPM_DROPIN_OUT}" @ONLY)
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/${HEMS_DOCDIR}/hems.service.d" TYPE FILE FILES "${HEMS_TPM_DROPIN_OUT}")
endif()

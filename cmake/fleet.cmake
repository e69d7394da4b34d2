# Fleet: the metrics model and its writer, the systemd unit, the man page,
# bash completion, the alerting rules, and the Debian package (issue #11).
# Included at the end of the top-level CMakeLists.txt.

# ---- Installed files: man page, unit, completion, alerting rules ------------
include(GNUInstallDirs)

find_program(SCDOC scdoc)
if(NOT SCDOC)
  message(FATAL_ERROR "scdoc not found (it builds the man page); install it: scripts/deps.sh (Debian package scdoc)")
endif()
set(CWT_MAN_DIR ${CMAKE_BINARY_DIR}/man)
add_custom_command(
  OUTPUT ${CWT_MAN_DIR}/man8/closewait-trace.8
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CWT_MAN_DIR}/man8
  COMMAND sh -c "\"$0\" < \"$1\" > \"$2\"" ${SCDOC} ${CMAKE_SOURCE_DIR}/doc/closewait-trace.8.scd
          ${CWT_MAN_DIR}/man8/closewait-trace.8
  DEPENDS ${CMAKE_SOURCE_DIR}/doc/closewait-trace.8.scd
  COMMENT "man page closewait-trace.8 (scdoc)"
  VERBATIM)
add_custom_target(manpage ALL DEPENDS ${CWT_MAN_DIR}/man8/closewait-trace.8)
install(FILES ${CWT_MAN_DIR}/man8/closewait-trace.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

# The unit names the installed binary, so it is made at install time, from the
# prefix in force then (cmake --install --prefix, or /usr inside cpack). A
# path with white space is quoted, as systemd.service(5) allows.
set(CWT_UNIT_IN ${CMAKE_SOURCE_DIR}/packaging/systemd/closewait-trace.service.in)
install(CODE "
  set(CWT_EXEC \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SBINDIR}/closewait-trace\")
  if(CWT_EXEC MATCHES \"[ \t]\")
    set(CWT_EXEC \"\\\"\${CWT_EXEC}\\\"\")
  endif()
  configure_file(\"${CWT_UNIT_IN}\" \"${CMAKE_BINARY_DIR}/install/closewait-trace.service\" @ONLY)
")
install(FILES ${CMAKE_BINARY_DIR}/install/closewait-trace.service DESTINATION lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/bash-completion/closewait-trace
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES ${CMAKE_SOURCE_DIR}/share/closewait-trace/closewait-trace.rules.yml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/closewait-trace)

# ---- Debian package: cpack -G DEB -------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME closewait-trace)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "closewait-trace maintainers <closewait-trace@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "find leaked and unaccepted CLOSE_WAIT sockets and accept() failures (eBPF)")
set(CPACK_PACKAGE_DESCRIPTION
    "An eBPF observer of the Linux TCP stack: leaked CLOSE_WAIT sockets, CLOSE_WAIT in accept queues, EMFILE/ENFILE on accept, as they happen; live, as an audit, or as Prometheus metrics for node_exporter's textfile collector, with a hardened systemd unit.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "prometheus-node-exporter")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "prometheus")
set(CPACK_STRIP_FILES ON)
include(CPack)

# ---- Tests -----------------------------------------------------------------
if(CWT_BUILD_TESTS)
  set(CWT_FLEET_TESTS ${CMAKE_SOURCE_DIR}/tests/fleet)
  add_test(NAME fleet_completion
           COMMAND ${CWT_FLEET_TESTS}/completion_test.sh $<TARGET_FILE:closewait-trace>
                   ${CMAKE_SOURCE_DIR}/packaging/bash-completion/closewait-trace)
  add_test(NAME fleet_manpage
           COMMAND ${CWT_FLEET_TESTS}/manpage_test.sh $<TARGET_FILE:closewait-trace>
                   ${CWT_MAN_DIR}/man8/closewait-trace.8 ${CMAKE_SOURCE_DIR})
  add_test(NAME fleet_systemd_unit
           COMMAND ${CWT_FLEET_TESTS}/unit_test.sh ${CWT_UNIT_IN} $<TARGET_FILE_DIR:closewait-trace> ${CWT_MAN_DIR})
  add_test(NAME fleet_alert_rules
           COMMAND ${CWT_FLEET_TESTS}/rules_test.sh ${CMAKE_SOURCE_DIR}/share/closewait-trace/closewait-trace.rules.yml)
  add_test(NAME fleet_deb COMMAND ${CWT_FLEET_TESTS}/deb_test.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(fleet_completion fleet_manpage fleet_systemd_unit fleet_alert_rules
                       PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)
  set_tests_properties(fleet_deb PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
endif()


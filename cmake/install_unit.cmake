# Run by `cmake --install` (install(SCRIPT)): writes contrib/host_stub.service.in
# with the paths of this install, whatever --prefix says, so the unit names
# the host_stub, plugins folder and docs that were installed with it.
# Expects PA_UNIT_TEMPLATE and PA_{BIN,LIB,DATA}DIR (relative or absolute).
function(pa_full out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()
pa_full(bindir "${PA_BINDIR}")
pa_full(libdir "${PA_LIBDIR}")
pa_full(datadir "${PA_DATADIR}")
file(READ "${PA_UNIT_TEMPLATE}" unit)
string(REPLACE "@BINDIR@" "${bindir}" unit "${unit}")
string(REPLACE "@PLUGINDIR@" "${libdir}/pa-plugins" unit "${unit}")
string(REPLACE "@DATADIR@" "${datadir}" unit "${unit}")
string(REPLACE "@DOCDIR@" "${datadir}/doc/pa-plugins" unit "${unit}")
set(target "$ENV{DESTDIR}${datadir}/pa-plugins/host_stub.service")
message(STATUS "Installing: ${target}")
file(WRITE "${target}" "${unit}")

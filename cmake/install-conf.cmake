# Installs the shipped assayd.conf without overwriting the one an operator
# edited: when a different file is there, the shipped one goes beside it as
# assayd.conf.new. Runs at install time (install(CODE) in CMakeLists.txt
# sets ASSAY_CONF_SRC and ASSAY_CONF_DIR, the latter relative to the
# prefix given to `cmake --install`, unless a packager made it absolute).
if(IS_ABSOLUTE "${ASSAY_CONF_DIR}")
    set(_dest "${ASSAY_CONF_DIR}")
else()
    set(_dest "${CMAKE_INSTALL_PREFIX}/${ASSAY_CONF_DIR}")
endif()
# file(INSTALL) adds DESTDIR itself; the check of what is there must too.
set(_dir "$ENV{DESTDIR}${_dest}")
set(_as assayd.conf)
if(EXISTS "${_dir}/assayd.conf")
    file(READ "${_dir}/assayd.conf" _old)
    file(READ "${ASSAY_CONF_SRC}" _shipped)
    if(NOT _old STREQUAL _shipped)
        message(STATUS "Kept: ${_dir}/assayd.conf (the shipped one is assayd.conf.new)")
        set(_as assayd.conf.new)
    endif()
endif()
file(INSTALL "${ASSAY_CONF_SRC}" DESTINATION "${_dest}" RENAME ${_as})

# Installation: headers, both libraries, a CMake package and a pkg-config file.
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(TARGETS umshim umshim_static EXPORT umshimTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT umshimTargets NAMESPACE umshim:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/umshim)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/umshimConfig.cmake.in
  ${PROJECT_BINARY_DIR}/umshimConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/umshim)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/umshimConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/umshimConfig.cmake ${PROJECT_BINARY_DIR}/umshimConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/umshim)

# Private libraries as plain -l flags: a static consumer links them as shared
# libraries (Requires.private would drag in their own static closures).
set(UMS_PC_LIBS_PRIVATE "-lhwloc -ldrm")
if(UMS_BUILD_OPENCL)
  set(UMS_PC_LIBS_PRIVATE "${UMS_PC_LIBS_PRIVATE} -lOpenCL")
endif()
set(UMS_PC_LIBS_PRIVATE "${UMS_PC_LIBS_PRIVATE} -lpthread -ldl")
configure_file(${PROJECT_SOURCE_DIR}/cmake/umshim.pc.in ${PROJECT_BINARY_DIR}/umshim.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/umshim.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

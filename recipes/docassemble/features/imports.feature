Feature: docassemble's packages work without a server
  The slim image carries docassemble.base, docassemble.demo and docassemble.webapp with their
  locked dependencies. The modules that need no running server, database, network or
  config.yml import; the installed distributions are the released version.

  Scenario Outline: a module that needs no server imports
    When I import <module>
    Then the import succeeds

    Examples:
      | module                          |
      | docassemble.base.config         |
      | docassemble.base.error          |
      | docassemble.base.filter         |
      | docassemble.base.generate_key   |
      | docassemble.base.logger         |
      | docassemble.base.mako           |
      | docassemble.webapp.cloud        |
      | docassemble.webapp.screenreader |

  Scenario Outline: the released distributions are installed
    When I ask for the installed version of <distribution>
    Then it is "1.10.5"

    Examples:
      | distribution       |
      | docassemble.base   |
      | docassemble.demo   |
      | docassemble.webapp |

  Scenario: every unconditional requirement of every installed distribution is installed
    When I check the installed distributions' requirements
    Then none is missing

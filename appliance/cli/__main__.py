from appliance.cli.entry_point import main

main()

from streamapp.launch import main

main()

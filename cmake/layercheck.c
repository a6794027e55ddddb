/* The main of the layer link checks (CMakeLists.txt, cs_layer): linked with every object
 * file of one layer and only the layers below it that it names, never run. */
int main(void)
{
    return 0;
}
